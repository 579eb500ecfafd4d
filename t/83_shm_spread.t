# SPDX-License-Identifier: Apache-2.0
# The shm cache spreads its entries over all of shmcb's subcaches (vhost
# obo_shm_spread, OBOCache shm 1048576: 8 subcaches of 42 entries each).
# shmcb picks the subcache from an id's first byte; with the module's keys
# as ids (all starting with 'o') every entry went to one subcache, and a
# long-running session was evicted after about 7 others, with 7/8 of the
# cache unused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Digest::SHA qw(sha256_hex);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_shm_spread';
my $OTHERS = 24;    # ~6 entries each: 150 of 336 in the cache, 3.5 x one subcache (42)

# Distinct users (tid+oid bind a session): one user's 25 sessions would
# pass OBOSessionLimit (20).
sub ut { my ($sub) = @_; return mint(tenant => 'shmsp', claims => { sub => $sub, oid => oid_of($sub) }) }
sub open_session {
    my ($t) = @_;
    my $env = cgi_env(obo_get($V, '/lr/env', token => $t));
    return $env->{OBO_SESSION_KEY};
}
sub handler_status {
    my ($key) = @_;
    return obo_get($V, '/token', headers => ['OBO-Session-Key' => $key])->code;
}

my $victim = open_session(ut(fresh_user('shmsp')));
ok $victim, 'first session opened';
is handler_status($victim), 200, 'its key answers 200';
my @others = grep { $_ } map { open_session(ut(fresh_user('shmsp'))) } 1 .. $OTHERS;
is scalar(@others), $OTHERS, "$OTHERS other sessions opened";
is handler_status($victim), 200, "the first session still answers 200 after $OTHERS others";
my @gone = grep { handler_status($_) != 200 } @others;
is scalar(@gone), 0, 'every other session answers 200';

idp_reset();
done_testing();
