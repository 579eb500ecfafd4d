# SPDX-License-Identifier: Apache-2.0
# env: secrets and the running server (review 13B F1). A graceful restart
# (systemctl reload = apachectl graceful) re-reads the configuration in the
# environment the running parent started with, while apachectl's configtest
# sources /etc/apache2/envvars again: an OBOClientSecret env:NAME added
# there passed configtest, then the reload stopped the server. configtest
# now reads the running parent's environment (/proc) and fails (OBO105)
# where the reload would; a changed value, which the reload would silently
# keep, is a warning (OBO106).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Copy qw(copy);
use OBOTest;
use OBOTest::Config qw(httpd_binary);
use OBOTest::Httpd2;

need_feature('authn', 'exchange');
plan skip_all => 'needs /proc' unless -r "/proc/$$/environ";

$ENV{OBO_T62_SECRET_A} = 's3cret-for-tests';
delete $ENV{OBO_T62_SECRET_B};
my $srv = eval { OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'httpd2env',
                                        extra => 'OBOClientSecret env:OBO_T62_SECRET_A') };
ok $srv, 'a server whose OBOClientSecret is env:OBO_T62_SECRET_A' or do {
    diag $@;
    done_testing();
    exit 0;
};
my $conf = $srv->{conf};
my $httpd = httpd_binary();

# the running server's configuration with its last line set to `line`
sub variant {
    my ($name, $line) = @_;
    my $f = "$srv->{dir}/$name.conf";
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/^OBOClientSecret env:OBO_T62_SECRET_A$/$line/m or die 'no env: line';
    open my $out, '>', $f or die "$f: $!";
    print $out $text;
    close $out;
    return $f;
}

sub configtest {
    my ($f, %env) = @_;
    local @ENV{ keys %env } = values %env;
    my $out = `"$httpd" -t -f "$f" 2>&1`;
    return ($? == 0, $out);
}

subtest 'a variable the running server does not have: configtest fails (OBO105)' => sub {
    my $f = variant('newvar', 'OBOClientSecret env:OBO_T62_SECRET_B');
    my ($ok, $out) = configtest($f, OBO_T62_SECRET_B => 's3cret-for-tests');
    ok !$ok, 'configtest fails, though the variable is set for it';
    like $out, qr/OBO105: OBOClientSecret env:OBO_T62_SECRET_B: the running httpd \(pid \d+\) was started without OBO_T62_SECRET_B/,
         'OBO105 names the directive, the variable and the pid';
    unlike $out, qr/s3cret-for-tests/, 'the value is not printed';
};

subtest 'the same variable with another value: a warning (OBO106)' => sub {
    my ($ok, $out) = configtest($conf, OBO_T62_SECRET_A => 'another-s3cret-value');
    ok $ok, 'configtest passes';
    like $out, qr/OBO106: OBOClientSecret env:OBO_T62_SECRET_A: the running httpd \(pid \d+\) has another value/,
         'OBO106 says the reload keeps the running value';
    unlike $out, qr/another-s3cret-value|s3cret-for-tests/, 'no value printed';
    ($ok, $out) = configtest($conf);
    ok $ok && $out !~ /OBO10[56]/, 'the same value: passes without a word';
};

subtest 'why: the reload with the new variable stops the server' => sub {
    my $f = variant('newvar2', 'OBOClientSecret env:OBO_T62_SECRET_B');
    copy($f, $conf) or die "copy: $!";
    my $pid = $srv->pid;
    kill 'USR1', $pid;
    my $end = time + 10;
    sleep 0.2 while time < $end && kill 0, $pid;
    ok !kill(0, $pid), 'the graceful restart stopped the parent (what OBO105 prevents)';
};

subtest 'no running server: nothing to compare' => sub {
    $srv->stop;
    my ($ok, $out) = configtest($conf, OBO_T62_SECRET_B => 's3cret-for-tests');
    ok $ok, 'configtest passes' or diag $out;
};

done_testing();
