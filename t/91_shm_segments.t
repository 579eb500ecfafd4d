# SPDX-License-Identifier: Apache-2.0
# Which shm segment a virtual host gets, and how long a segment lives
# (review of issue 14; a second httpd, OBOTest::Httpd2).
#  - Two virtual hosts that differ only by ServerAlias (both inheriting the
#    main server's ServerName) shared one segment and its sealing key: a
#    session opened in one was served by the other's obo-token handler.
#  - Each size given to OBOCache shm at a graceful restart left its segment
#    mapped in the parent (and every new child) until the server stopped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use LWP::UserAgent;
use HTTP::Request;

need_feature('authn', 'exchange');
idp_reset();

my $ua = LWP::UserAgent->new(timeout => 30, agent => 'obo-tests/1.0');
sub ut { my ($sub) = @_; return mint(tenant => 'lrshm', claims => { sub => $sub, oid => oid_of($sub) }) }
sub get {
    my ($h, $host, $path, @hdr) = @_;
    my $req = HTTP::Request->new(GET => $h->url($path), [ Host => $host, @hdr ]);
    return $ua->request($req);
}

my $LR = <<'EOF';
    <Location /lr>
        AuthType obo
        Require valid-user
        OBOScope api://downstream/.default
        OBOLongRunning on
    </Location>
    <Location /obo-token>
        SetHandler obo-token
        Require local
    </Location>
EOF

subtest 'virtual hosts that differ only by ServerAlias do not share a segment' => sub {
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => 'lrshm', name => 'shmalias',
        extra => "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
               . OBOTest::Config::libexecdir() . "/mod_authz_host.so\n</IfModule>\n"
               . "<VirtualHost *:*>\n    ServerAlias a.example\n$LR</VirtualHost>\n"
               . "<VirtualHost *:*>\n    ServerAlias b.example\n$LR</VirtualHost>\n");
    # the echo backend (the main server's ProxyPassMatch, inherited) shows
    # the session key the module handed it
    my $r = get($h, 'a.example', '/lr/backend/x', Authorization => 'Bearer ' . ut(fresh_user('alias')));
    my ($key) = ($r->decoded_content // '') =~ /"OBO-Session-Key"\s*,\s*"([^"]+)"/i;
    ok $key, 'a session opened in a.example' or diag $r->status_line . ' ' . $r->decoded_content;
    is get($h, 'a.example', '/obo-token', 'OBO-Session-Key' => $key)->code, 200,
        'a.example\'s handler serves its key';
    is get($h, 'b.example', '/obo-token', 'OBO-Session-Key' => $key)->code, 404,
        'b.example\'s handler does not know it';
    $h->stop;
};

# Shared mappings of at least 1 MiB in a process: the shm segments.
sub segments {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/maps" or return -1;
    my $n = 0;
    while (<$fh>) {
        my ($lo, $hi, $perm) = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)/ or next;
        $n++ if $perm =~ /s/ && hex($hi) - hex($lo) >= 1024 * 1024;
    }
    return $n;
}

subtest 'a size changed by a graceful restart releases the old segment' => sub {
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => 'lrshm', name => 'shmsizes',
                                   extra => 'OBOCache shm 1048576');
    my $base = segments($h->pid);
    ok $base >= 1, "one segment at the start ($base)";
    my $mark = -s OBOTest::Services::logs_dir() . '/shmsizes_error_log';
    for my $size (2097152, 3145728, 4194304) {
        open my $in, '<', $h->{conf} or die $!;
        my $conf = do { local $/; <$in> };
        close $in;
        $conf =~ s/^OBOCache shm \d+$/OBOCache shm $size/m;
        open my $out, '>', $h->{conf} or die $!;
        print $out $conf;
        close $out;
        ok defined $h->graceful, "graceful restart with OBOCache shm $size";
        my $ut = ut(fresh_user('sizes'));
        is $ua->get($h->url('/x/backend/y'), Authorization => "Bearer $ut")->code, 200,
            '... and it serves';
    }
    is segments($h->pid), $base, "still $base segment(s) in the parent after three new sizes";
    my $log = '';
    if (open my $fh, '<', OBOTest::Services::logs_dir() . '/shmsizes_error_log') {
        seek $fh, $mark, 0;
        local $/;
        $log = <$fh>;
    }
    is scalar(() = $log =~ /OBO196/g), 3, 'OBO196 logged for each released segment';
    # review 36B-F8: a warning that names the server and what is lost
    like $log, qr/\[auth_obo:warn\].*OBO196: OBOCache shm: the segment of server \S+, .*long-running sessions kept in it have ended/,
         'OBO196 is a warning naming the server and the sessions lost';
    $h->stop;
};

# Round 7: a virtual host without a directive of the module shares the
# main server's configuration; each such host made its own segment (the
# parent kept one per host), the last one made served them all, and a
# ServerAlias added to one of them at a graceful restart emptied the cache
# of the main configuration (a new IdP call for a cached token).
subtest 'virtual hosts without directives share the main server\'s one segment' => sub {
    my $vh = join '', map { "<VirtualHost *:*>\n    ServerName $_.test\n</VirtualHost>\n" } qw(a b c);
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => 'lrshm', name => 'shmplain',
                                   extra => "OBOCache shm 2097152\n$vh");
    is segments($h->pid), 1, 'one segment for the main server and three hosts';
    my $sub = fresh_user('plain');
    my $ut = ut($sub);
    for my $host (qw(a.test b.test c.test)) {
        is get($h, $host, '/x/backend/y', Authorization => "Bearer $ut")->code, 200, "$host: 200";
    }
    is token_calls($sub), 1, 'one IdP call for the three hosts';
    open my $in, '<', $h->{conf} or die $!;
    my $conf = do { local $/; <$in> };
    close $in;
    $conf =~ s/ServerName a\.test\n/ServerName a.test\n    ServerAlias www.a.test\n/;
    open my $out, '>', $h->{conf} or die $!;
    print $out $conf;
    close $out;
    ok defined $h->graceful, 'graceful restart after a ServerAlias was added to a.test';
    for my $host (qw(a.test b.test)) {
        is get($h, $host, '/x/backend/y', Authorization => "Bearer $ut")->code, 200, "$host: 200";
    }
    is token_calls($sub), 1, '... still from the cache: no new IdP call';
    is segments($h->pid), 1, 'still one segment';
    $h->stop;
};

idp_reset();
done_testing();
