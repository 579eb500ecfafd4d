# SPDX-License-Identifier: Apache-2.0
# Long-running sessions with RFC 8693 token exchange and the shm cache
# (vhost obo_lr_te, OBOSessionLifetime 5 12): without a refresh token the
# session serves its access token until it expires, then answers 401
# interaction_required and ends; the idle lifetime ends an unused session,
# the max lifetime ends one however often it is used.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_lr_te';

sub ut { my ($sub) = @_; return mint(tenant => 'lrte', claims => { sub => $sub }) }
sub open_session {
    my ($t) = @_;
    my $env = cgi_env(obo_get($V, '/lr/env', token => $t));
    return ($env->{OBO_SESSION_KEY}, $env->{OBO_ACCESS_TOKEN});
}
sub handler {
    my ($key) = @_;
    my $r = obo_get($V, '/token', headers => ['OBO-Session-Key' => $key]);
    return ($r, json_body($r) // {});
}

subtest 'token exchange, no refresh token: the access token until it expires, then 401' => sub {
    idp_set('expires_in@lrte' => 3);
    my $sub = fresh_user('lrte');
    my ($key, $at) = open_session(ut($sub));
    ok $key, 'session opened (shm cache)';
    my $last = idp_last_requests()->[-1];
    like $last->{params}{grant_type} // '', qr/token-exchange/, 'with the RFC 8693 grant';
    my ($r, $j) = handler($key);
    expect_status($r, 200, 'handler: 200');
    is $j->{access_token}, $at, 'the access token of the exchange';
    sleep 3.5;
    ($r, $j) = handler($key);
    expect_status($r, 401, 'after it expired: 401');
    is $j->{error}, 'interaction_required', 'interaction_required';
    ($r) = handler($key);
    expect_status($r, 404, 'the session has ended: 404');
    is idp_counter('grant:refresh_token'), 0, 'no refresh-token call was made';
    idp_set('expires_in@lrte' => '');
};

subtest 'idle lifetime (5 s) and max lifetime (12 s)' => sub {
    my ($idle) = open_session(ut(fresh_user('lridle')));
    my ($busy) = open_session(ut(fresh_user('lrmax')));
    my $t0 = time;
    my @busy;
    while (time - $t0 < 10.5) {
        push @busy, (handler($busy))[0]->code;
        sleep 1.5;
    }
    ok !grep({ $_ != 200 } @busy), 'a session used every 1.5 s lives past its idle lifetime: '
        . scalar(@busy) . ' x 200';
    expect_status((handler($idle))[0], 404, 'unused for 10 s (> idle 5 s): 404');
    sleep 12.5 - (time - $t0);
    expect_status((handler($busy))[0], 404, 'past the max lifetime (12 s) although used: 404');
};

idp_reset();
done_testing();
