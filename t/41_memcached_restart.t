# SPDX-License-Identifier: Apache-2.0
# A memcached restart (vhost obo_x_mc + a second httpd with 4 processes):
# every process still holds pooled connections to the old memcached. The
# first operation on each must be retried on a fresh connection, so the
# first token acquired after the restart is stored and then served to every
# process of both servers without a second IdP call.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_x_mc';

sub ut { my ($sub) = @_; return mint(tenant => 'xmc', claims => { sub => $sub }) }

my $h2 = eval { OBOTest::Httpd2->start(procs => 4) };
ok $h2, 'second httpd started' or diag $@;

SKIP: {
    skip 'no second httpd', 1 unless $h2;
    subtest 'after a memcached restart the first token is stored and shared' => sub {
        # Every process of both servers opens pooled connections.
        my $w = fresh_user('warm');
        my $wt = ut($w);
        my @warm = burst(map { [ ($_ % 2 ? $h2->url('/x/backend/w') : vhost_url($V, '/x/backend/w')),
                                 Authorization => "Bearer $wt" ] } 1 .. 40);
        is scalar(grep { $_->{code} == 200 } @warm), 40, 'warm-up: 40 x 200';
        is token_calls($w), 1, 'warm-up: one IdP call (memcached shared)';

        memcached_stop();
        ok !OBOTest::Services::port_open(memcached_port()), 'memcached stopped';
        memcached_start();
        ok OBOTest::Services::port_open(memcached_port()), 'memcached started again, empty';

        my $sub = fresh_user('restart');
        my $t = ut($sub);
        my $r = obo_get($V, '/x/backend/first', token => $t);
        expect_status($r, 200, 'server 1, first request after the restart: 200');
        is token_calls($sub), 1, 'one IdP call';
        my @entries = grep { !/\.lock$/ } memcached_keys();
        is scalar(@entries), 1, 'memcached holds the new entry (the first store landed)';

        my @res = burst(map { [ $h2->url('/x/backend/again'), Authorization => "Bearer $t" ] } 1 .. 20);
        is scalar(grep { $_->{code} == 200 } @res), 20, 'server 2 (4 processes): 20 x 200'
            or diag join ' ', map { $_->{code} } @res;
        my $first = (split ' ', (backend_header($r, 'Authorization'))[0] // '', 2)[1] // 'none';
        my %tok = map { my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
                                      @{ $_->{json}{headers} || [] };
                        ((split ' ', $a // '', 2)[1] // 'none') => 1 } @res;
        is_deeply [ keys %tok ], [ $first ], 'all got the token server 1 acquired';
        is token_calls($sub), 1, 'still one IdP call for that user';
    };
}

$h2->stop if $h2;
idp_reset();
done_testing();
