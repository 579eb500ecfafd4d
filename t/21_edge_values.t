# SPDX-License-Identifier: Apache-2.0
# Values that go into headers and variables (issue 6, defect 2): the user
# claim that becomes REMOTE_USER (control characters, invalid UTF-8, absurd
# length: 401 invalid_token), and the access_token / token_type the IdP
# returns (unusable: 502 with a log line). vhost obo_edge, which sets
# RequestHeader X-User "expr=%{REMOTE_USER}" in front of mod_proxy.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Encode ();
use JSON::PP ();
use MIME::Base64 ();

need_feature('authn', 'exchange');
my $V = 'obo_edge';

sub tok { my ($sub) = @_; return mint(tenant => 'edge', claims => { sub => $sub }) }

# a token whose payload holds raw bytes that JSON::PP would not produce
sub tok_raw_sub {
    my ($bytes) = @_;
    my $t = mint(tenant => 'edge', claims => { sub => 'PLACEHOLDER' });
    my (undef, $p) = split /\./, $t;
    $p =~ tr/-_/+\//;
    my $json = MIME::Base64::decode_base64($p . '=' x ((4 - length($p) % 4) % 4));
    $json =~ s/PLACEHOLDER/$bytes/ or die 'no placeholder';
    return sign_compact({ alg => 'RS256', typ => 'JWT', kid => 'rsa-a' }, $json);
}

sub rejected {
    my ($token, $name) = @_;
    my $mark = error_log_mark();
    my $r = obo_get($V, '/claims/backend', token => $token);
    expect_invalid_token($r, "$name: 401 invalid_token", realm => 'edge');
    ok !json_body($r) || !json_body($r)->{headers}, "$name: the backend was not reached";
    my @inj = grep { lc($_->[0]) eq 'x-injected' } backend_headers($r);
    ok !@inj, "$name: no injected header";
    like error_log_since($mark), qr/OBO060: .*'sub' claim cannot be REMOTE_USER/,
        "$name: logged with OBO060";
}

subtest 'control: a user name in UTF-8 reaches the backend as is' => sub {
    my $sub = "J\x{fc}rgen-" . fresh_user('v0');
    my $r = obo_get($V, '/claims/backend', token => tok($sub));
    is $r->code, 200, 'status 200' or diag describe($r);
    my @u = backend_header($r, 'X-User');
    is scalar(@u), 1, 'one X-User header';
    is $u[0], Encode::encode('UTF-8', $sub), 'X-User is the user name in UTF-8';
    my $long = 'a' x 256;
    expect_status(obo_get($V, '/claims/backend', token => tok($long)), 200, '256 bytes: 200');
};

subtest 'sub with CR LF: no header injection' => sub {
    rejected(tok("alice\r\nX-Injected: yes"), 'CR LF');
};
subtest 'sub with a C1 control character (U+0085)' => sub {
    rejected(tok("alice\x{85}bob"), 'U+0085');
};
subtest 'sub with a DEL' => sub {
    rejected(tok("alice\x7fbob"), 'DEL');
};
subtest 'sub of 257 bytes' => sub {
    rejected(tok('a' x 257), '257 bytes');
};
subtest 'sub with invalid UTF-8' => sub {
    my $r = obo_get($V, '/claims/backend', token => tok_raw_sub("alice\xff\xfe"));
    expect_invalid_token($r, 'raw 0xFF 0xFE: 401 invalid_token', realm => 'edge');
};

sub idp_returns {
    my ($switch, $value, $name) = @_;
    idp_set("$switch\@edge" => $value);
    my $mark = error_log_mark();
    my $r = obo_get($V, '/xhdr/backend', token => tok(fresh_user('v-idp')));
    idp_set("$switch\@edge" => 'off');
    is $r->code, 502, "$name: 502" or diag describe($r);
    ok !json_body($r) || !json_body($r)->{headers}, "$name: the backend was not reached";
    like error_log_since($mark), qr/OBO061: the IdP returned an unusable/, "$name: logged with OBO061";
}

subtest 'the IdP returns an access_token with CR LF' => sub {
    idp_returns(access_token_suffix => "\r\nX-Injected: yes", 'access_token CR LF');
};
subtest 'the IdP returns an access_token with a space' => sub {
    idp_returns(access_token_suffix => ' x', 'access_token space');
};
subtest 'the IdP returns a token_type with CR LF' => sub {
    idp_returns(token_type => "Bearer\r\nX-Injected: yes", 'token_type CR LF');
};
subtest 'control: token_type "bearer" is fine' => sub {
    idp_set('token_type@edge' => 'bearer');
    my $r = obo_get($V, '/xhdr/backend', token => tok(fresh_user('v-tt')));
    idp_set('token_type@edge' => 'off');
    is $r->code, 200, 'status 200' or diag describe($r);
};

done_testing();
