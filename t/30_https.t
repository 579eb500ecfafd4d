# SPDX-License-Identifier: Apache-2.0
# The IdP is reached over https only (issue 6, defect 3): an http: (or any
# non-https) OBOMetadataURL, OBOJWKSURL or OBOTokenEndpoint stops httpd with
# a message naming the directive, and a discovery document that names an
# http: jwks_uri or token_endpoint is refused with a clear log line (no key
# is ever fetched from it) until the IdP publishes https URLs again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(expect_config_errors);
use Time::HiRes qw(sleep);

need_feature('authn');

my $port = OBOTest::idp_port();
my $LOC = "<Location /api>\n    AuthType obo\n    Require valid-user\n</Location>";
my $AUD = "OBOAudience api://test-api";
my $META = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration";
my $CLIENT = "OBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";

expect_config_errors(
    ['OBOMetadataURL http:',
     "OBOMetadataURL http://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n$AUD\n$LOC",
     qr/OBOMetadataURL.*not an https URL/],
    ['OBOJWKSURL http:',
     "OBOJWKSURL http://127.0.0.1:$port/cfg/discovery/v2.0/keys\nOBOIssuer https://127.0.0.1:$port/cfg/v2.0\n$AUD\n$LOC",
     qr/OBOJWKSURL.*not an https URL/],
    ['OBOTokenEndpoint http:',
     "$META\n$AUD\n$CLIENT\nOBOTokenEndpoint http://127.0.0.1:$port/cfg/oauth2/v2.0/token\n$LOC",
     qr/OBOTokenEndpoint.*not an https URL/],
    ['OBOTokenEndpoint ftp:',
     "$META\n$AUD\n$CLIENT\nOBOTokenEndpoint ftp://127.0.0.1:$port/token\n$LOC",
     qr/OBOTokenEndpoint.*not an https URL/],
    ['OBOMetadataURL HTTP: in capitals',
     "OBOMetadataURL HTTP://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n$AUD\n$LOC",
     qr/OBOMetadataURL.*not an https URL/],
);

# Review 20: a user name and password in an IdP URL were sent, then written
# to error log lines (OBO313, OBO422...) and the status page. Refused, and
# the refusal does not repeat the password.
{
    my $INTRO = "<Location /api>\n    AuthType obo\n    OBOTokenFormat opaque\n"
                . "    Require valid-user\n</Location>";
    for my $case (
        ['OBOMetadataURL', "OBOMetadataURL https://md:CFGPASSWORD\@127.0.0.1:$port/cfg/v2.0/"
                           . ".well-known/openid-configuration\n$AUD\n$LOC"],
        ['OBOJWKSURL', "OBOJWKSURL https://k:CFGPASSWORD\@127.0.0.1:$port/cfg/discovery/v2.0/keys"
                       . "\nOBOIssuer https://127.0.0.1:$port/cfg/v2.0\n$AUD\n$LOC"],
        ['OBOTokenEndpoint', "$META\n$AUD\n$CLIENT\nOBOTokenEndpoint https://t:CFGPASSWORD\@"
                             . "127.0.0.1:$port/cfg/oauth2/v2.0/token\n$LOC"],
        ['OBOIntrospectionURL', "$META\n$AUD\n$CLIENT\nOBOIntrospectionURL https://i:CFGPASSWORD"
                                . "\@127.0.0.1:$port/cfg/introspect\n$INTRO"]) {
        my ($d, $conf) = @$case;
        my $c = OBOTest::Config::check_config($conf);
        ok !$c->{started}, "$d with user:password\@: httpd does not start"
            or diag $c->{output};
        like $c->{output}, qr/\Q$d\E.*carries a user name or password/,
             "$d: the message says why";
        unlike $c->{output}, qr/CFGPASSWORD/, "$d: the message does not repeat the password";
    }
}

idp_reset();
my $tok = mint(tenant => 'plain');

# Each case is a fresh start of discovery after the 5 s backoff of the
# previous failure.
for my $case (['http_jwks', 'jwks_uri'], ['http_token_endpoint', 'token_endpoint']) {
    my ($fault, $field) = @$case;
    idp_set('discovery_fault@plain' => $fault);
    my $mark = error_log_mark();
    my $before = idp_counter('jwks@plain');
    my $r = obo_get('obo_plain', '/api/env', token => $tok);
    is $r->code, 503, "discovery names an http: $field: 503 (the IdP is not usable)"
        or diag describe($r);
    ok idp_counter('discovery@plain') >= 1, 'the discovery document was fetched';
    is idp_counter('jwks@plain') - $before, 0, 'no JWKS was fetched from anywhere';
    my $log = '';
    for (1 .. 20) { $log = error_log_since($mark); last if $log =~ /OBO070/; sleep 0.1 }
    like $log, qr/OBO070: discovery document from \S+ refused: its \Q$field\E is not an https URL/,
        "error_log says why: OBO070 naming $field";
    sleep 5.5;    # the retry backoff after a failed fetch
}

# a discovery document naming a jwks_uri with a password in it
{
    idp_set('discovery_fault@plain' => 'userinfo_jwks');
    my $mark = error_log_mark();
    my $before = idp_counter('jwks@plain');
    my $r = obo_get('obo_plain', '/api/env', token => $tok);
    is $r->code, 503, 'discovery names https://u:password@.../keys: 503' or diag describe($r);
    is idp_counter('jwks@plain') - $before, 0, 'no JWKS was fetched from it';
    my $log = '';
    for (1 .. 20) { $log = error_log_since($mark); last if $log =~ /OBO070/; sleep 0.1 }
    like $log, qr/OBO070: .*its jwks_uri is not an https URL without user name or password/,
         'OBO070 says why';
    unlike $log, qr/DISCOPASSWORD/, 'the password is not in the error log';
    sleep 5.5;
}

idp_set('discovery_fault@plain' => '');
expect_ok(obo_get('obo_plain', '/api/env', token => $tok),
          'the IdP publishes https URLs again: 200 after the backoff', user => 'user-sub-1');
ok idp_counter('jwks@plain') >= 1, 'and the keys came from the https jwks_uri';

idp_reset();
done_testing();
