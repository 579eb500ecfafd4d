# SPDX-License-Identifier: Apache-2.0
# Internal requests into the obo-token handler (vhost obo_lr_edge): a
# long-running Location puts the session key in its request's headers for
# the backend; an ErrorDocument, a CGI local redirect or an SSI include
# virtual of /token would share those headers and answer the end user with
# the session's downstream token. The handler serves only requests a
# backend makes itself.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Digest::SHA qw(sha256_hex);

need_feature('authn', 'exchange');
my $V = 'obo_lr_edge';
my $mark = error_log_mark();

sub ut { my ($sub) = @_; return user_token($sub, 'lr') }

subtest 'control: the backend gets a key that the handler honours when called directly' => sub {
    my $r = obo_get($V, '/lr/env', token => ut(fresh_user('lredge')));
    expect_status($r, 200, 'long-running request');
    my $key = cgi_env($r)->{OBO_SESSION_KEY};
    ok $key, 'the CGI got OBO_SESSION_KEY';
    $r = obo_get($V, '/token', headers => [ 'OBO-Session-Key' => $key ]);
    expect_status($r, 200, 'a direct handler call with the key: 200');
    like $r->content, qr/"access_token"/, 'it returns a token';
};

for my $case (['ErrorDocument 404 /token', '/lr/missing.txt'],
              ['CGI local redirect to /token', '/lr/go'],
              ['SSI include virtual="/token"', '/lr/ssi/page.shtml']) {
    my ($what, $path) = @$case;
    subtest "$what does not reach the handler" => sub {
        my $r = obo_get($V, $path, token => ut(fresh_user('lredge')));
        unlike $r->content // '', qr/access_token|eyJ/, "no token in the answer to the user ($what)"
            or diag substr($r->content, 0, 300);
        isnt $r->code, 200, 'not a 200 from the handler' if $path ne '/lr/ssi/page.shtml';
    };
}

subtest 'a refresh answer whose token_type could split a header line: 502, not handed on' => sub {
    idp_set('expires_in@lr' => 2);
    my $r = obo_get($V, '/lr/env', token => ut(fresh_user('lredge')));
    my $key = cgi_env($r)->{OBO_SESSION_KEY};
    ok $key, 'a session';
    idp_set('token_type@lr' => "Bearer\r\nX-Injected: yes");
    sleep 3;    # its access token has expired: the next call refreshes
    my $m = error_log_mark();
    $r = obo_get($V, '/token', headers => [ 'OBO-Session-Key' => $key ]);
    idp_set('token_type@lr' => 'off');
    idp_set('expires_in@lr' => '');
    expect_status($r, 502, 'the handler answers 502');
    unlike $r->content, qr/X-Injected|access_token/, 'neither the token nor the token_type';
    like error_log_since($m), qr/OBO061: the IdP returned an unusable token_type/, 'OBO061';
};

like error_log_since($mark), qr/OBO190/, 'OBO190 logged for the refused internal requests';

# Round 7: a session's token that lives no longer than OBOCacheMargin (300
# s here, the default) was handed out until it expired: with 4 s tokens the
# handler answered one with 0.25 s left. It now keeps half its lifetime,
# as an ordinary Location's cache does. Round 8: a session in use rewrites
# its entries when the shm ring is about to reach them (other users'
# sessions here), and each rewrite took half of what was left again (a
# 60 s token handed out with 11 s left). (vhost obo_lr_shm, 512 KiB)
subtest 'a short-lived session token is handed out with half its lifetime left at least' => sub {
    use Time::HiRes qw(sleep time);
    use JSON::PP ();
    idp_set('expires_in@lrshm' => 8);
    my $sub = fresh_user('lrshort');
    my $r = obo_get('obo_lr_shm', '/lr/env',
                    token => mint(tenant => 'lrshm', claims => { sub => $sub, oid => oid_of($sub) }));
    my $key = cgi_env($r)->{OBO_SESSION_KEY};
    ok $key, 'session opened';
    my ($least, $n) = (99, 0);
    my $end = time + 9;
    while (time < $end) {
        # other users' new sessions: writes that make this session's rewrite due
        for (1 .. 2) {
            my $o = fresh_user('lrchurn');
            obo_get('obo_lr_shm', '/lr/env',
                    token => mint(tenant => 'lrshm', claims => { sub => $o, oid => oid_of($o) }));
        }
        my $h = obo_get('obo_lr_shm', '/token', token => undef, headers => [ 'OBO-Session-Key' => $key ]);
        my $j = eval { JSON::PP->new->decode($h->content) } || {};
        if ($h->code == 200 && $j->{expires_on}) {
            my $left = $j->{expires_on} - time;
            $least = $left if $left < $least;
            $n++;
        }
    }
    cmp_ok $n, '>=', 8, "the handler answered ($n times)";
    cmp_ok $least, '>=', 2.9, sprintf('every token had at least ~half its 8 s left (least %.2f s)', $least);
    idp_set('expires_in@lrshm' => '');
};

done_testing();
