# SPDX-License-Identifier: Apache-2.0
# Configurations that leak or leave a door open (issue 6, defect 12):
# OBOPassToken header refuses hop-by-hop, framing and routing names;
# OBOPassToken without OBOScope/OBOExchangeAudience for its downstream is a
# startup error; AuthType obo without a Require that needs a user gets a
# startup warning naming the section. Method: t/lib/OBOTest/Config.pm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);

need_feature('authn', 'exchange');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $BASE = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
         . "OBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
my $IDP_ONLY = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration";
sub loc { my ($body) = @_; return "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n$body\n</Location>" }

subtest 'control: a good header name' => sub {
    my $c = check_config(loc(" OBOScope api://d/.default\n OBOPassToken header X-Downstream-Token"));
    ok $c->{started}, 'httpd starts' or diag $c->{output};
    $c = check_config(loc(" OBOScope downstream=a api://a/.default\n OBOScope downstream=b api://b/.default\n"
                          . " OBOPassToken header X-Tok downstream=a\n OBOPassToken env TOK_B downstream=b"));
    ok $c->{started}, 'two downstreams, each its own place' or diag $c->{output};
    # (with token-exchange: under on-behalf-of an audience alone is refused, OBO049)
    $c = check_config(loc(" OBOExchangeAudience api://d\n OBOPassToken env DS_TOKEN")
                      . "\nOBOExchange token-exchange");
    ok $c->{started}, 'an audience alone is a downstream too' or diag $c->{output};
};

my @names = qw(Transfer-Encoding Connection Host Content-Length Keep-Alive TE Trailer Upgrade
               Proxy-Authorization Proxy-Connection X-Forwarded-For X-Forwarded-Host Forwarded
               Via Expect Max-Forwards transfer_encoding content-length);
expect_config_errors(
    (map { ["OBOPassToken header $_",
            loc(" OBOScope api://d/.default\n OBOPassToken header $_"),
            qr/OBOPassToken: header \Q$_\E: .*hop-by-hop, framing, routing or cookie/] } @names),
    ['OBOPassToken header Authorization', loc(" OBOScope api://d/.default\n OBOPassToken header Authorization"),
     qr/OBOPassToken: use 'OBOPassToken authorization'/],
    ['OBOPassToken without OBOScope', loc(" OBOPassToken header X-Downstream-Token"),
     qr/OBO062: OBOPassToken names a downstream without OBOScope or OBOExchangeAudience.*Location \/api|OBO062.*\/api/],
    ['OBOPassToken downstream=graph without its scope',
     loc(" OBOScope api://d/.default\n OBOPassToken header X-Graph downstream=graph"),
     qr/OBO062: OBOPassToken downstream=graph .*without OBOScope or OBOExchangeAudience downstream=graph/],
    # A review found these accepted, then one token silently in the place of
    # another (the session key's variable, REMOTE_USER, an expiry variable,
    # two downstreams in one Authorization header).
    (map { ["OBOPassToken $_", loc(" OBOScope api://d/.default\n OBOLongRunning on\n OBOPassToken $_"),
            qr/OBOPassToken: \S+: \S+ is a name httpd or the module sets itself/] }
         'env OBO_SESSION_KEY', 'header OBO-Session-Key', 'env REMOTE_USER', 'env auth_type',
         'env OBO_CLAIM_x', 'env T_EXPIRES_ON', 'header T-Expires-On'),
    # Round 7: variables httpd sets for a CGI after the module (HTTP_* from
    # the client's own headers: X-Api-Token set HTTP_X_API_TOKEN), and
    # places two downstreams share although spelt apart.
    (map { ["OBOPassToken $_", loc(" OBOScope api://d/.default\n OBOPassToken $_"),
            qr/OBOPassToken: \S+: \S+ is a name httpd or the module sets itself/] }
         'env HTTP_X_API_TOKEN', 'env PATH', 'env SERVER_NAME', 'env ssl_token'),
    # Round 8: the expiry's name too (env HTTP made HTTP_EXPIRES_ON, which a
    # client's Expires-On header set), and expiry places between downstreams
    (map { ["OBOPassToken $_", loc(" OBOScope api://d/.default\n OBOPassToken $_"),
            qr/OBOPassToken: \S+: \S+ is a name httpd or the module sets itself/] }
         'env HTTP', 'env OBO_CLAIM'),
    # Round 9: headers httpd drops on their way to a CGI (a '_' in the
    # name; Proxy, httpoxy), and a header whose expiry header is reserved
    ['OBOPassToken header X_Tok', loc(" OBOScope api://d/.default\n OBOPassToken header X_Tok"),
     qr/OBOPassToken: header X_Tok: httpd drops a header whose name holds '_'/],
    (map { ["OBOPassToken header $_", loc(" OBOScope api://d/.default\n OBOPassToken header $_"),
            qr/OBOPassToken: header \Q$_\E: .*hop-by-hop, framing, routing or cookie/] }
         'Proxy', 'X-Forwarded'),
    # the module's own claim headers, said as such (review 33B-F14)
    (map { ["OBOPassToken header $_", loc(" OBOScope api://d/.default\n OBOPassToken header $_"),
            qr/OBOPassToken: header \Q$_\E: OBO-Claim-\* is where the module hands claims on/] }
         'OBO-Claim-sub', 'OBO-Claim'),
    ['a downstream\'s token in another\'s expiry variable',
     loc(" OBOScope api://a/.default\n OBOScope downstream=expires_on api://b/.default"),
     qr/both hand their token to variable OBO_ACCESS_TOKEN_EXPIRES_ON/],
    ['a downstream\'s default variable taken by another',
     loc(" OBOScope downstream=a api://a/.default\n OBOPassToken env OBO_ACCESS_TOKEN_B downstream=a\n"
         . " OBOScope downstream=b api://b/.default"),
     qr/downstreams a and b both hand their token to variable OBO_ACCESS_TOKEN_B/],
    ['downstream=graph and downstream=Graph',
     loc(" OBOScope downstream=graph api://a/.default\n OBOScope downstream=Graph api://b/.default"),
     qr/downstreams \S+ and \S+ both hand their token to variable OBO_ACCESS_TOKEN_GRAPH/],
    ['downstream=a-b and downstream=a_b',
     loc(" OBOScope downstream=a-b api://a/.default\n OBOScope downstream=a_b api://b/.default"),
     qr/both hand their token to variable OBO_ACCESS_TOKEN_A_B/],
    ['two downstreams to Authorization',
     loc(" OBOScope api://a/.default downstream=a\n OBOScope api://b/.default downstream=b\n"
         . " OBOPassToken authorization downstream=a\n OBOPassToken authorization downstream=b"),
     qr/OBOPassToken: Authorization is already where a's token goes/],
    ['two downstreams to one variable',
     loc(" OBOScope api://a/.default downstream=a\n OBOScope api://b/.default downstream=b\n"
         . " OBOPassToken env T downstream=a\n OBOPassToken env t downstream=b"),
     qr/OBOPassToken: t is already where a's token goes/],
    ['OBOPassToken at server level without OBOScope',
     "$BASE\nOBOPassToken env DS_TOKEN\n<Location /api>\n AuthType obo\n Require valid-user\n</Location>",
     qr/OBO062: OBOPassToken names a downstream/],
);

sub warns {
    my ($conf) = @_;
    my $c = check_config("$BASE\n$conf", modules => ['authz_host']);
    ok $c->{started}, 'httpd starts (a warning, not an error)' or diag $c->{output};
    return ($c->{output} =~ /(OBO063: [^\n]*)/g);
}

subtest 'AuthType obo without any Require: a warning naming the Location' => sub {
    my @w = warns("<Location /open>\n AuthType obo\n</Location>");
    ok scalar(grep { m{<Location /open>} } @w), 'OBO063 names <Location /open>' or diag explain \@w;
};

subtest 'AuthType obo with only Require all granted / ip: a warning' => sub {
    my @w = warns("<Location /open>\n AuthType obo\n <RequireAny>\n  Require all granted\n"
                  . "  Require ip 127.0.0.1\n </RequireAny>\n</Location>");
    ok scalar(grep { m{<Location /open>} } @w), 'OBO063 names <Location /open>' or diag explain \@w;
};

subtest 'no warning when a Require needs a user' => sub {
    my @w = warns(join "\n",
        "<Location /a>\n AuthType obo\n Require valid-user\n</Location>",
        "<Location /b>\n AuthType obo\n <RequireAll>\n  Require obo-scope read\n  Require ip 127.0.0.1\n </RequireAll>\n</Location>",
        "<Location /c>\n Require valid-user\n</Location>\n<Location /c/d>\n AuthType obo\n</Location>",
        "<Directory /tmp>\n AuthType obo\n Require user alice\n</Directory>");
    ok !@w, 'no OBO063' or diag explain \@w;
};

# An administrator's audit found: a Location's own "Require all granted"
# replaces the "Require valid-user" of the prefix Location above it (no
# AuthMerging), so requests without a token passed with no warning; and an
# anchored <LocationMatch> under a prefix Location with the audience or the
# Require was refused (OBO040) or warned about though httpd merges them in.
subtest 'a Location\'s own Require all granted under a Require valid-user prefix: a warning' => sub {
    my @w = warns("<Location /api>\n Require valid-user\n</Location>\n"
                  . "<Location /api/open>\n AuthType obo\n Require all granted\n</Location>");
    ok scalar(grep { m{<Location /api/open>} } @w), 'OBO063 names <Location /api/open>'
        or diag explain \@w;
    @w = warns("<Location /api>\n Require valid-user\n</Location>\n"
               . "<Location /api/open>\n AuthType obo\n AuthMerging And\n Require all granted\n</Location>");
    ok !@w, 'with AuthMerging And the prefix\'s Require still applies: no OBO063' or diag explain \@w;
};

subtest 'an anchored <LocationMatch> under a prefix Location with the Require and audience' => sub {
    my $c = check_config("$IDP_ONLY\n<Location /api>\n OBOAudience api://test-api\n Require valid-user\n"
                         . "</Location>\n<LocationMatch \"^/api/x\">\n AuthType obo\n</LocationMatch>",
                         modules => ['authz_host']);
    ok $c->{started}, 'starts: the audience of <Location /api> applies (no OBO040)' or diag $c->{output};
    unlike $c->{output}, qr/OBO063/, '... and its Require: no OBO063';
};

subtest 'a prefix that is not a path prefix does not count' => sub {
    my @w = warns("<Location /ab>\n Require valid-user\n</Location>\n<Location /abc>\n AuthType obo\n</Location>");
    ok scalar(grep { m{<Location /abc>} } @w), 'OBO063 for /abc' or diag explain \@w;
};

done_testing();
