# SPDX-License-Identifier: Apache-2.0
# "apachectl graceful" under load: a second httpd (4 child processes) that
# validates tokens and takes OBO tokens from its shared cache is restarted
# gracefully (SIGUSR1) while 8 clients keep sending requests. No request may
# fail, and the shared cache must survive the restart: users whose downstream
# token was cached before get the same token afterwards, from the new child
# processes, without a new IdP token call. Once with OBOCache shm, once with
# OBOCache memcached.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');

my $CLIENTS = 8;
my $USERS   = 8;
my $BEFORE  = 2;     # seconds of load before the restart
my $AFTER   = 4;     # seconds of load after the new generation is up

# one request on its own connection: (status, downstream token at the backend)
sub one_request {
    my ($port, $path, $token) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
        or return (0, undef, "connect: $!");
    $s->autoflush(1);
    print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n"
        . "Authorization: Bearer $token\r\n\r\n";
    my $buf = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    eval {
        alarm 20;
        while (1) { my $n = sysread($s, $buf, 65536, length $buf); last unless $n }
        alarm 0;
    };
    alarm 0;
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($code) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})};
    return (0, undef, $@ || 'no response') unless $code;
    if (($head // '') =~ /^Transfer-Encoding:\s*chunked/mi) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1 or last;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    my $j = eval { JSON::PP::decode_json($body) } || {};
    my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @{ $j->{headers} || [] };
    return ($code, (split ' ', $a // '', 2)[1], '');
}

# $CLIENTS processes send requests for random users until $stop_file
# exists; each writes "code user token_ok" lines to its own file
sub start_load {
    my ($h, $dir, $users, $tokens, $down) = @_;
    my @pids;
    for my $c (1 .. $CLIENTS) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            srand($$ ^ time);
            open my $out, '>', "$dir/client.$c" or POSIX::_exit(1);
            my $end = time + 120;    # bound, whatever happens
            while (!-e "$dir/stop" && time < $end) {
                my $u = int(rand(@$users));
                my ($code, $got, $err) = one_request($h->port, "/x/backend/g$c", $tokens->[$u]);
                my $same = defined $got && $got eq $down->[$u] ? 1 : 0;
                printf $out "%d %d %d %.3f %s\n", $code, $u, $same, time, $err =~ s/\s+/_/gr;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return @pids;
}

sub graceful_under_load {
    my (%o) = @_;
    my $tenant = $o{tenant};
    my $h = eval { OBOTest::Httpd2->start(procs => 4, cache => $o{cache}, tenant => $tenant,
                                          name => "httpd_graceful_$o{cache}") };
    ok $h, "httpd with OBOCache $o{cache} and 4 processes started" or return diag $@;

    # every user's downstream token is acquired once and cached
    my (@users, @tokens, @down);
    for my $i (1 .. $USERS) {
        my $sub = fresh_user("grace-$o{cache}");
        my $t = mint(tenant => $tenant, claims => { sub => $sub });
        my ($code, $got) = one_request($h->port, '/x/backend/warm', $t);
        is $code, 200, "user $i: first request 200" or next;
        push @users, $sub;
        push @tokens, $t;
        push @down, $got // '';
    }
    return unless @users == $USERS;
    my $c0 = idp_counters();
    my @calls0 = map { token_calls($_, $c0) } @users;
    is_deeply \@calls0, [ (1) x $USERS ], 'one IdP token call per user before the restart';

    my $dir = File::Temp::tempdir('graceful-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
    my @old = $h->children;
    my @pids = start_load($h, $dir, \@users, \@tokens, \@down);
    sleep $BEFORE;
    my $t_restart = time;
    my $secs = $h->graceful(timeout => 30);
    ok defined $secs, 'graceful restart: a new generation of child processes took over'
        . (defined $secs ? sprintf(' (%.2f s)', $secs) : '');
    my $t_new = time;
    my @new = $h->children;
    sleep $AFTER;
    open my $stop, '>', "$dir/stop" or die $!;
    close $stop;
    waitpid($_, 0) for @pids;

    my ($sent, $failed, $before, $after, $other_token, %codes, @fails) = (0, 0, 0, 0, 0);
    for my $c (1 .. $CLIENTS) {
        open my $in, '<', "$dir/client.$c" or next;
        while (<$in>) {
            my ($code, $u, $same, $at, $err) = split ' ';
            $sent++;
            $codes{$code}++;
            if ($code != 200) { $failed++; push @fails, "$code $err" if @fails < 5 }
            $other_token++ if $code == 200 && !$same;
            $at < $t_restart ? $before++ : $at >= $t_new ? $after++ : 0;
        }
    }
    my $c1 = idp_counters();
    my @calls1 = map { token_calls($_, $c1) } @users;
    my $new_calls = 0;
    $new_calls += $calls1[$_] - $calls0[$_] for 0 .. $#users;
    my %oldk = map { $_ => 1 } @old;

    diag sprintf('graceful under load, OBOCache %s: %d requests (%d before the restart, '
        . '%d after the new generation was up), %d failed; IdP token calls for the %d '
        . 'users: %d before, %d after (+%d); restart took %s s; children %s -> %s',
        $o{cache}, $sent, $before, $after, $failed, $USERS, sum(@calls0), sum(@calls1),
        $new_calls, defined $secs ? sprintf('%.2f', $secs) : '?', join(',', @old), join(',', @new));
    ok $sent >= 16 && $before > 0 && $after > 0,
        "load before and after the restart ($sent requests: $before before, $after after)";
    is $failed, 0, 'no request failed' or diag 'codes: '
        . join(' ', map { "$_=$codes{$_}" } sort keys %codes) . '; e.g. ' . join('; ', @fails);
    is $other_token, 0, 'every answer carried the downstream token cached before the restart';
    ok !grep({ $oldk{$_} } @new) && @new >= 1, 'the requests after it were served by new processes';
    is $new_calls, 0, 'no new IdP token call after the restart: the shared cache was kept';
    $h->stop;
}

sub sum { my $n = 0; $n += $_ for @_; return $n }

require File::Temp;
idp_reset();
subtest 'OBOCache shm' => sub { graceful_under_load(cache => 'shm', tenant => 'xshm') };
memcached_cmd('flush_all');
subtest 'OBOCache memcached' => sub { graceful_under_load(cache => 'memcached', tenant => 'xmc') };
idp_reset();
done_testing();
