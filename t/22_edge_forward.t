# SPDX-License-Identifier: Apache-2.0
# What flows on to backends from an exchanging Location (issue 6, defect 4):
# the caller's Authorization stays in the middle tier unless
# OBOForwardCallerToken on; downstream tokens set for one Location do not
# follow an internal redirect or a subrequest into another one (neither as
# headers nor as variables or their REDIRECT_ copies). vhost obo_edge.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();

need_feature('authn', 'exchange');
my $V = 'obo_edge';

sub tok { my ($sub) = @_; return mint(tenant => 'edge', claims => { sub => $sub }) }

sub included_json {
    my ($r) = @_;
    my ($json) = ($r->decoded_content // '') =~ /(\{.*\})/s;
    return $json ? eval { JSON::PP->new->decode($json) } : undef;
}

# A response of the echo backend embedded in a page
sub included_headers {
    my ($r, $name) = @_;
    my $d = included_json($r) || {};
    (my $want = lc $name) =~ tr/_/-/;
    return map { $_->[1] } grep { (my $n = lc $_->[0]) =~ tr/_/-/; $n eq $want }
        @{ $d->{headers} || [] };
}

sub dtoken_ok {
    my ($t, $aud, $name) = @_;
    my $c = defined $t ? decode_idp_token($t) : undef;
    ok $c && $c->{aud} eq $aud, "$name: a downstream token for $aud" or diag $t // 'none';
}

subtest 'exchange with a header hand-off: the caller\'s Authorization is removed' => sub {
    my $ut = tok(fresh_user('fw1'));
    my $r = obo_get($V, '/xhdr/backend', token => $ut);
    is $r->code, 200, 'status 200' or diag describe($r);
    my @a = backend_header($r, 'Authorization');
    ok !@a, 'the backend gets no Authorization header' or diag "@a";
    dtoken_ok((backend_header($r, 'X-Downstream-Token'))[0], 'api://downstream', 'X-Downstream-Token');
    ok !grep({ index($_->[1], $ut) >= 0 } backend_headers($r)), 'the caller\'s token is in no header';
};

# Review 30B: PHP stacks copy Authorization into the environment
# (SetEnvIf ... HTTP_AUTHORIZATION=$1, RewriteRule [E=...]) before the module
# removes the header; the CGI got the caller's token there.
subtest 'copies of the caller\'s Authorization in the environment are removed' => sub {
    my $t = user_token(fresh_user('php'), 'xobo');
    my $r = obo_get('obo_x', '/xphp/env', token => $t);
    is $r->code, 200, 'exchanged' or diag describe($r);
    my $env = cgi_env($r);
    ok $env->{OBO_ACCESS_TOKEN}, 'the downstream token is there';
    ok !exists $env->{HTTP_AUTHORIZATION}, 'no HTTP_AUTHORIZATION (SetEnvIf)';
    ok !exists $env->{COPIED_AUTH}, 'no copy of a RewriteRule [E=...]';
    ok index($r->content // '', $t) < 0, 'the caller\'s token is nowhere in the CGI\'s environment';
    ok !grep({ /\Q$t\E/ } values %$env), 'no variable holds it';
    ok !exists $env->{HTTP_X_ORIG_AUTH}, 'no copy made by RequestHeader (review 31)';
    # review 31: the token in a cookie, copied by SetEnvIf Cookie; and what
    # follows the scheme of an Authorization that is no token must not pick
    # variables to delete
    $r = obo_get('obo_x', '/xphp/env', token => undef,
                 headers => [ Cookie => "xat=$t", Authorization => 'Basic open_basedir=/var/www/site1' ]);
    is $r->code, 200, 'a cookie token: exchanged' or diag describe($r);
    $env = cgi_env($r);
    ok !exists $env->{COOKIE_TOK}, 'the SetEnvIf Cookie copy is removed';
    is $env->{PHP_VALUE}, 'open_basedir=/var/www/site1', 'a variable a client named is kept';
};

# Review 32: the copies were removed only for a token that verified; one
# that did not (another audience, expired) but that another Require let in
# reached the CGI and the proxied backend in every copy.
subtest 'copies of a token that did not verify are removed too' => sub {
    for my $bad ([ 'another audience', user_token(fresh_user('any1'), 'xobo', aud => 'api://other-api') ],
                 [ 'expired', user_token(fresh_user('any2'), 'xobo', exp => time - 3600,
                                         nbf => time - 7200, iat => time - 7200) ]) {
        my ($what, $t) = @$bad;
        my $r = obo_get('obo_x', '/xphpany/env', token => $t);
        is $r->code, 200, "$what: let in by Require ip" or diag describe($r);
        ok index($r->content // '', $t) < 0, "$what: not in the CGI's environment";
        $r = obo_get('obo_x', '/xphpany/backend/x', token => $t);
        ok !grep({ index($_->[1], $t) >= 0 } backend_headers($r)),
           "$what: not in any header the proxied backend gets";
    }
};

subtest 'OBOForwardCallerToken on keeps it' => sub {
    my $ut = tok(fresh_user('fw2'));
    my $r = obo_get($V, '/xfwd/backend', token => $ut);
    is $r->code, 200, 'status 200' or diag describe($r);
    is_deeply [backend_header($r, 'Authorization')], ["Bearer $ut"], 'the caller\'s Authorization';
    dtoken_ok((backend_header($r, 'X-Downstream-Token'))[0], 'api://downstream', 'X-Downstream-Token');
};

subtest 'OBOPassToken authorization replaces it' => sub {
    my $ut = tok(fresh_user('fw3'));
    my $r = obo_get($V, '/xauthz/backend', token => $ut);
    is $r->code, 200, 'status 200' or diag describe($r);
    my @a = backend_header($r, 'Authorization');
    is scalar(@a), 1, 'one Authorization header';
    my ($t) = ($a[0] // '') =~ /^Bearer (\S+)$/;
    dtoken_ok($t, 'api://downstream', 'Authorization');
};

subtest 'a RewriteRule from a public Location into an exchanging one' => sub {
    my $ut = tok(fresh_user('fw4'));
    my $r = obo_get($V, '/rw/xhdr', token => $ut, headers => ['X-Downstream-Token' => 'forged']);
    is $r->code, 200, 'status 200' or diag describe($r);
    ok !backend_header($r, 'Authorization'), 'no Authorization at the backend';
    my @t = backend_header($r, 'X-Downstream-Token');
    is scalar(@t), 1, 'one X-Downstream-Token';
    dtoken_ok($t[0], 'api://downstream', 'X-Downstream-Token');
};

subtest 'ErrorDocument from an exchanging Location to a public backend' => sub {
    my $ut = tok(fresh_user('fw5'));
    my $r = obo_get($V, '/xhdr/no-such-file', token => $ut);
    my $d = json_body($r);
    like $d && $d->{uri}, qr{^/open/backend}, 'the ErrorDocument reached the backend' or diag describe($r);
    ok !backend_header($r, 'X-Downstream-Token'), 'no X-Downstream-Token';
    ok !backend_header($r, 'X-Downstream-Token-Expires-On'), 'no X-Downstream-Token-Expires-On';
    is_deeply [backend_header($r, 'Authorization')], ["Bearer $ut"],
        'Authorization as the caller sent it (a public Location, as if requested directly)';
};

subtest 'ErrorDocument from one exchanging Location into another' => sub {
    my $ut = tok(fresh_user('fw6'));
    my $r = obo_get($V, '/xdef/no-such-file', token => $ut);
    my $env = cgi_env($r);
    is $env->{REDIRECT_STATUS}, 404, 'the ErrorDocument ran' or diag describe($r);
    dtoken_ok($env->{OBO_ACCESS_TOKEN}, 'api://other-downstream', 'OBO_ACCESS_TOKEN');
    my @copies = grep { /^REDIRECT_.*OBO_ACCESS_TOKEN/ } sort keys %$env;
    ok !@copies, 'no REDIRECT_ copy of the first Location\'s token' or diag "@copies";
};

subtest 'ErrorDocument from an exchanging Location to a public CGI' => sub {
    my $ut = tok(fresh_user('fw7'));
    my $r = obo_get($V, '/xvar/no-such-file', token => $ut);
    my $env = cgi_env($r);
    is $env->{REDIRECT_STATUS}, 404, 'the ErrorDocument ran' or diag describe($r);
    my @t = grep { /EDGE_TOKEN|OBO_ACCESS_TOKEN/ } sort keys %$env;
    ok !@t, 'no downstream token variable, nor a REDIRECT_ copy' or diag "@t";
};

subtest 'SSI include of a public backend from an exchanging Location' => sub {
    my $ut = tok(fresh_user('fw8'));
    my $r = obo_get($V, '/xssi/open.shtml', token => $ut);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $d = included_json($r);
    ok $d && $d->{uri} =~ m{^/open/backend}, 'the include reached the backend' or diag $r->decoded_content;
    ok !included_headers($r, 'X-Downstream-Token'), 'no X-Downstream-Token';
    my @a = included_headers($r, 'Authorization');
    is_deeply \@a, ["Bearer $ut"], 'Authorization as the caller sent it, not the downstream token';
};

subtest 'SSI include of a public CGI from an exchanging Location' => sub {
    my $ut = tok(fresh_user('fw9'));
    my $r = obo_get($V, '/xssi/openenv.shtml', token => $ut);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $d = included_json($r);
    my $env = $d && $d->{env} || {};
    ok %$env, 'the include ran' or diag $r->decoded_content;
    my @t = grep { /EDGE_TOKEN|OBO_ACCESS_TOKEN/ } sort keys %$env;
    ok !@t, 'no downstream token variable' or diag "@t";
};

# A review found TRACE through an exchanging Location handing the backend
# the downstream token (and, long-running, the session key) in a request
# that the backend's TRACE echoes back to the caller. A proxied TRACE now
# answers 405 before any exchange (OBO068). httpd answers a TRACE it serves
# itself before authentication (map_to_storage): only what the caller sent.
subtest 'TRACE in an exchanging Location: no exchange, nothing handed off' => sub {
    my $mark = error_log_mark();
    for my $case ([ $V, '/xhdr/backend', 'edge', 405 ], [ $V, '/xhdr/env', 'edge', 0 ],
                  [ 'obo_lr', '/lr/backend', 'lr', 405 ]) {
        my ($v, $path, $tenant, $want) = @$case;
        my $sub = fresh_user('trace');
        my $ut = mint(tenant => $tenant, claims => { sub => $sub, oid => oid_of($sub) });
        my $r = obo_request($v, 'TRACE', $path, token => $ut);
        if ($want) {
            is $r->code, $want, "$v $path: TRACE answers $want";
        }
        else {
            note "$v $path: TRACE answers " . $r->code . " (httpd's own)";
        }
        my $echo = $r->decoded_content // '';
        $echo =~ s/\Q$ut\E//g;    # the caller's own token may come back
        unlike $echo, qr/eyJ|OBO-Session-Key|X-Downstream-Token/i,
            '... and echoes no other token, no key, no pass header';
        is token_calls($sub), 0, '... without an exchange';
        is obo_get($v, $path, token => $ut)->code, 200, "$v $path: GET answers 200 (control)";
        is token_calls($sub), 1, '... with one exchange';
    }
    like error_log_since($mark), qr/OBO068: TRACE refused in \/xhdr\/backend/, 'OBO068 logged';
};

done_testing();
