# SPDX-License-Identifier: Apache-2.0
# OBORequestedTokenType is part of the token's cache key: two virtual hosts
# that differ only by it (vhosts obo_rtt_at and obo_rtt_jwt, one IdP tenant,
# one client) share the process's L1 and the shm cache, and one user's
# token must not be handed to the other host. Before the fix, the second
# host got the first host's access token, with no IdP call (found by the
# review of the running module).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn', 'exchange');
idp_reset();

my $JWT = 'urn:ietf:params:oauth:token-type:jwt';
my $AT = 'urn:ietf:params:oauth:token-type:access_token';
my $sub = fresh_user('rtt');
my $ut = mint(tenant => 'rtt', claims => { sub => $sub });

sub token_at {
    my ($vhost, $name) = @_;
    my $r = obo_get($vhost, '/x/env', token => $ut);
    expect_ok($r, "$name: 200", user => $sub);
    return cgi_env($r)->{OBO_ACCESS_TOKEN} // '';
}
sub asked_for {
    my @mine = grep { ($_->{params}{subject_token} // '') eq $ut } @{ idp_last_requests() };
    return [ map { $_->{params}{requested_token_type} // 'none' } @mine ];
}

my $at = token_at('obo_rtt_at', 'access-token host, first request');
my $jwt = token_at('obo_rtt_jwt', 'jwt host, same user token');
isnt $jwt, $at, 'the jwt host did not get the access-token host\'s token';
is token_calls($sub), 2, 'one IdP call per host';
is_deeply [ sort @{ asked_for() } ], [ sort($AT, $JWT) ],
    'the IdP was asked once for each token type';
# and each host keeps its own from the caches (L1 or shm, any process)
my $same = 1;
for (1 .. 4) {
    $same &&= token_at('obo_rtt_jwt', 'jwt host again') eq $jwt;
    $same &&= token_at('obo_rtt_at', 'access-token host again') eq $at;
}
ok $same, 'each host gets its own token back from the caches';
is token_calls($sub), 2, 'no further IdP calls';

done_testing();
