# SPDX-License-Identifier: Apache-2.0
# The default shm cache (socache shmcb) is shared by all processes of a
# server: a second httpd with 4 child processes and OBOCache shm gets one
# IdP call for a burst of 100 concurrent first requests, and none after.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;

need_feature('authn', 'exchange');
idp_reset();

my $h = eval { OBOTest::Httpd2->start(procs => 4, cache => 'shm', tenant => 'xshm', name => 'httpd_shm') };
ok $h, 'httpd with OBOCache shm and 4 processes started' or diag $@;

SKIP: {
    skip 'no second httpd', 4 unless $h;
    my @kids = $h->children;
    ok @kids >= 2, scalar(@kids) . ' child processes';
    my $sub = fresh_user('shm');
    my $t = mint(tenant => 'xshm', claims => { sub => $sub });
    my @res = burst(map { [ $h->url('/x/backend/b'), Authorization => "Bearer $t" ] } 1 .. 100);
    my @ok = grep { $_->{code} == 200 } @res;
    is scalar(@ok), 100, 'burst of 100: all 200' or diag join ' ', map { $_->{code} } @res;
    my %tok;
    for my $r (@ok) {
        my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @{ $r->{json}{headers} || [] };
        $tok{ $a // 'none' } = 1;
    }
    is scalar(keys %tok), 1, 'all got the same downstream token';
    my @more = burst(map { [ $h->url('/x/backend/c'), Authorization => "Bearer $t" ] } 1 .. 20);
    is token_calls($sub), 1, 'exactly one IdP call for 120 requests over all processes';
    $h->stop;
}

idp_reset();
done_testing();
