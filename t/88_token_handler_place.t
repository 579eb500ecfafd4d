# SPDX-License-Identifier: Apache-2.0
# Where the obo-token handler may be (issue 14, A3). In a Location that has
# AuthType obo or OBOLongRunning on, the end user's own request reached the
# handler with the session key the fixups had just put in its headers, and
# got the downstream token (200) or ended the session (DELETE 204).
#   - such configurations are refused by apache2 -t and at a real start
#     (OBO192), whatever section kind or merge puts the handler there;
#     a handler in a Location of its own still starts
#   - where the check cannot see it (mod_rewrite's H=obo-token, vhost
#     obo_lr_edge), the request gets no token: OBO191, 500
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Digest::SHA qw(sha256_hex);
use OBOTest;
use OBOTest::Config qw(check_config libexecdir);
use OBOTest::Httpd2;
use OBOTest::Services ();
use LWP::UserAgent;
use HTTP::Request;

need_feature('authn', 'exchange');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $BASE = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
    . "OBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
my $LR = "AuthType obo\n    Require valid-user\n    OBOScope api://downstream/.default\n"
    . "    OBOLongRunning on";
my $OBO = "AuthType obo\n    Require valid-user";
my $H = "SetHandler obo-token\n    Require local";

my @refused = (
    [ 'nested Location under a long-running one',
      "<Location /nested>\n    $LR\n</Location>\n<Location /nested/obo-token>\n    $H\n</Location>",
      qr{\(<Location /nested/obo-token>.*(AuthType obo|OBOLongRunning on) \(<Location /nested>} ],
    [ 'handler and AuthType obo in one Location',
      "<Location /api>\n    $OBO\n    $H\n</Location>", qr{AuthType obo \(<Location /api>} ],
    [ 'handler Location above an AuthType obo one (the merge covers both ways)',
      "<Location /api/x>\n    $OBO\n</Location>\n<Location /api>\n    $H\n</Location>",
      qr{AuthType obo \(<Location /api/x>} ],
    [ 'handler in an <If> inside a long-running Location',
      "<Location /lr>\n    $LR\n    <If \"%{QUERY_STRING} =~ /t/\">\n        SetHandler obo-token\n"
      . "    </If>\n</Location>", qr{\(<If .*(AuthType obo|OBOLongRunning on) \(<Location /lr>} ],
    [ '<LocationMatch> handler matching a long-running Location',
      "<Location /jobs>\n    $LR\n</Location>\n<LocationMatch \"^/jobs\">\n    $H\n</LocationMatch>",
      qr{\(<LocationMatch .*(AuthType obo|OBOLongRunning on) \(<Location /jobs>} ],
    [ 'handler Location inside an AuthType obo <LocationMatch>',
      "<LocationMatch \"^/app/\">\n    $OBO\n</LocationMatch>\n<Location /app/tok>\n    $H\n</Location>",
      qr{AuthType obo \(<LocationMatch} ],
    [ '<Files> handler in an AuthType obo <Directory>',
      "<Directory /srv/app>\n    $OBO\n    <Files tok>\n        SetHandler obo-token\n    </Files>\n"
      . "</Directory>", qr{AuthType obo \(<Directory /srv/app>} ],
    [ '<Directory> handler below an AuthType obo <Directory>',
      "<Directory /srv/app>\n    $OBO\n</Directory>\n<Directory /srv/app/tok>\n    $H\n</Directory>",
      qr{AuthType obo \(<Directory /srv/app>} ],
    [ 'AddHandler obo-token in a long-running Location',
      "<Location /lr>\n    $LR\n    AddHandler obo-token .tok\n</Location>",
      qr{AddHandler obo-token \.tok \(<Location /lr>} ],
    [ 'OBOLongRunning for the whole server',
      "OBOScope api://downstream/.default\nOBOLongRunning on\n<Location /obo-token>\n    $H\n"
      . "</Location>", qr{OBOLongRunning on \(server} ],
    # a review found the check compared the handler's name with case (httpd
    # does not), and missed a <LocationMatch> whose paths all lie under the
    # handler's Location without the regex matching the Location's own path
    [ 'SetHandler OBO-TOKEN (httpd ignores the case) under a long-running Location',
      "<Location /lr>\n    $LR\n</Location>\n<Location /lr/tok>\n    SetHandler OBO-TOKEN\n"
      . "    Require local\n</Location>", qr{\(<Location /lr/tok>.*(AuthType obo|OBOLongRunning on) \(<Location /lr>} ],
    [ 'a long-running <LocationMatch "^/tok/x"> under the handler\'s Location /tok',
      "<LocationMatch \"^/tok/x\">\n    $LR\n</LocationMatch>\n<Location /tok>\n    $H\n</Location>",
      qr{\(<Location /tok>.*(AuthType obo|OBOLongRunning on) \(<LocationMatch} ],
    # a second audit found a handler of the main server unchecked against
    # the virtual hosts it also serves
    [ 'a main-server handler under a virtual host\'s long-running <Location />',
      "<Location /obo-token>\n    $H\n</Location>\n<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n"
      . "    <Location />\n        $LR\n    </Location>\n</VirtualHost>",
      qr{\(<Location /obo-token>.*(AuthType obo|OBOLongRunning on) \(<Location />} ],
    [ 'in a virtual host, under a long-running Location of the main server',
      "<Location /r>\n    $LR\n</Location>\n<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n"
      . "    <Location /r/tok>\n        $H\n    </Location>\n</VirtualHost>",
      qr{(AuthType obo|OBOLongRunning on) \(<Location /r>} ],
    # review 39B-F13: a host's server level merges into the main server's
    # handler Location for that host's requests (OBO191 at every call)
    [ 'a host\'s server-level OBOLongRunning on, the handler a main-server Location',
      "<Location /lr>\n    $LR\n</Location>\n<Location /obo-token>\n    $H\n</Location>\n"
      . "<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    OBOLongRunning on\n</VirtualHost>",
      qr{\(<Location /obo-token>, \S+\) applies where OBOLongRunning on \(<VirtualHost 127\.0\.0\.1:\*>} ],
);

for my $case (@refused) {
    my ($name, $conf, $re) = @$case;
    subtest "refused: $name" => sub {
        my $c = check_config("$BASE\n$conf", modules => ["authz_host", "mime"]);
        ok !$c->{syntax_ok}, 'apache2 -t fails' or diag $c->{output};
        ok !$c->{started}, 'httpd does not start';
        like $c->{output}, qr/OBO192: (Set|Add)Handler obo-token/i, "OBO192 names the handler"
            or diag $c->{output};
        like $c->{output}, $re, 'and the section that puts it under the module';
    };
}

# review 36B-F12: the handler's own section (or its host's server level)
# turning AuthType obo / OBOLongRunning on off wins in httpd's merge over
# the server level and over sections merged before it; refused before
my @accepted = (
    [ 'server-level OBOLongRunning on, the handler\'s Location turns it off',
      "OBOScope api://downstream/.default\nOBOLongRunning on\n<Location /obo-token>\n    $H\n"
      . "    OBOLongRunning off\n</Location>" ],
    [ 'AuthType obo in <Location />, AuthType None in the handler\'s later Location',
      "<Location />\n    $OBO\n</Location>\n<Location /lr>\n    OBOScope api://downstream/.default\n"
      . "    OBOLongRunning on\n</Location>\n<Location /obo-token>\n    AuthType None\n    $H\n</Location>" ],
    [ 'main-server OBOLongRunning on, a handler host turning it off at its server level',
      "OBOCache memcached 127.0.0.1:1\nOBOCacheSecret 0123456789abcdef0123456789abcdef\n"
      . "OBOScope api://downstream/.default\nOBOLongRunning on\n<VirtualHost 127.0.0.1:*>\n"
      . "    ServerName tok.test\n    OBOLongRunning off\n    <Location /obo-token>\n        $H\n"
      . "    </Location>\n</VirtualHost>" ],
    # review 39B-F13: what the handler's sections set wins over the host's
    # server level (merged before them); a host section over it may too
    [ 'a host\'s server-level OBOLongRunning on, the main-server handler Location turning it off',
      "<Location /lr>\n    $LR\n</Location>\n<Location /obo-token>\n    $H\n    OBOLongRunning off\n"
      . "</Location>\n<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    OBOLongRunning on\n</VirtualHost>" ],
    [ 'a host\'s server-level OBOLongRunning on, turned off in its own <Location /obo-token>',
      "<Location /lr>\n    $LR\n</Location>\n<Location /obo-token>\n    $H\n</Location>\n"
      . "<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    OBOLongRunning on\n"
      . "    <Location /obo-token>\n        OBOLongRunning off\n    </Location>\n</VirtualHost>" ],
);
for my $case (@accepted) {
    my ($name, $conf) = @$case;
    subtest "accepted: $name" => sub {
        my $c = check_config("$BASE\n$conf", modules => ["authz_host"]);
        ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
        unlike $c->{output}, qr/OBO192/, 'no OBO192';
    };
}
# reviews 37D-F4, 38E-F3, 38F-F3: an <If> merges after every section, the
# handler's own too, and its condition cannot be judged at startup: an
# AuthType obo in one is said (a warning naming it), not refused, whatever
# the handler's own section sets; an <If> of the handler's own may turn it off
for my $case (
    [ 'AuthType None in the handler\'s Location, AuthType obo in a server-level <If>',
      "<If \"%{HTTP_HOST} =~ /./\">\n    $OBO\n</If>\n<Location /obo-token>\n    AuthType None\n    $H\n</Location>" ],
    [ 'a server-level <If> on other URLs with AuthType obo',
      "<If \"%{REQUEST_URI} =~ m#^/api/#\">\n    $OBO\n</If>\n<Location /obo-token>\n    $H\n</Location>" ],
    [ 'the handler\'s own <If> turning AuthType off',
      "<If \"%{HTTP_HOST} =~ /./\">\n    $OBO\n</If>\n<Location /obo-token>\n    $H\n    <If \"true\">\n        AuthType None\n    </If>\n</Location>" ],
) {
    my ($name, $conf) = @$case;
    subtest "warned: $name" => sub {
        my $c = check_config("$BASE\n<Location /lr>\n    $LR\n</Location>\n$conf", modules => ["authz_host"]);
        ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
        like $c->{output}, qr{OBO192: SetHandler obo-token .*AuthType obo \(<If .* does if that condition matches},
            'OBO192 warns, naming the <If>' or diag $c->{output};
    };
}
# ... but a <Location /> with AuthType obo after the handler's merges over it
subtest 'refused: AuthType None in the handler\'s Location, AuthType obo in a later <Location />' => sub {
    my $c = check_config("$BASE\n<Location /obo-token>\n    AuthType None\n    $H\n</Location>\n"
        . "<Location />\n    $OBO\n</Location>", modules => ["authz_host", "mime"]);
    ok !$c->{syntax_ok}, 'apache2 -t fails' or diag $c->{output};
    like $c->{output}, qr{OBO192: SetHandler obo-token .*AuthType obo \(<Location />}, 'OBO192 names <Location />'
        or diag $c->{output};
};

subtest 'accepted: the handler in a Location of its own, beside long-running ones (and another handler under one)' => sub {
    my $c = check_config("$BASE\n<Location /reports>\n    $LR\n</Location>\n"
        . "<Location /obo-token>\n    $H\n    OBOScope api://downstream/.default\n</Location>\n"
        . "<Location /reportsx>\n    $H\n</Location>\n"
        . "<Location /reports/other>\n    SetHandler obo-tokenizer\n</Location>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
    unlike $c->{output}, qr/OBO197/, 'handlers with Require local: no OBO197';
};

# Review 26: a handler without any Require answered anyone who held a key,
# as far as the <Directory> rules allowed, and nothing said so.
subtest 'a handler without a Require of its own: OBO197 at start and in configtest' => sub {
    my $c = check_config("$BASE
<Location /reports>
    $LR
</Location>
"
        . "<Location /opentoken>
    SetHandler obo-token
</Location>
"
        . "<Location /closed>
    <RequireAny>
        Require ip 10.0.0.0/8
"
        . "    </RequireAny>
    SetHandler obo-token
</Location>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started}, 'it still starts (a warning)' or diag $c->{output};
    like $c->{output}, qr{OBO197: SetHandler obo-token \(<Location /opentoken>.*has no Require},
         'OBO197 names the handler\'s section';
    unlike $c->{output}, qr{OBO197[^\n]*<Location /closed>}, 'a <RequireAny> counts as a rule';
};

# A second audit found AuthType obo in a <Proxy> section taken as the whole
# server's: <Proxy> applies to proxied requests only, never to the handler.
subtest 'accepted: AuthType obo and OBOLongRunning in a <Proxy> beside the handler' => sub {
    my $c = check_config("$BASE\n<Proxy \"http://127.0.0.1:1*\">\n    $LR\n</Proxy>\n"
        . "<Location /obo-token>\n    $H\n</Location>", modules => ["authz_host", "proxy", "proxy_http"]);
    ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
};

# A review found a server with the handler and nothing else of the module
# passed configtest and answered 500 to every request (OBO136): without an
# OBOScope it had no client and no cache. It now gets both, or is refused.
my $NOCRED = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
    . "OBOAudience api://test-api";
for my $case (
    [ 'no OBOClientID', "$NOCRED\n<Location /obo-token>\n    $H\n</Location>", qr/needs OBOClientID/ ],
    [ 'no credentials', "$NOCRED\nOBOClientID middle-tier-api\n<Location /obo-token>\n    $H\n</Location>",
      qr/needs OBOClientSecret or OBOClientCertificate/ ],
    [ 'OBOCache none', "$BASE\nOBOCache none\n<Location /obo-token>\n    $H\n</Location>",
      qr/needs a cache holding the sessions/ ],
    [ 'in a virtual host without credentials',
      "$NOCRED\n<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    <Location /tok>\n        $H\n"
      . "    </Location>\n</VirtualHost>", qr/needs OBOClientID in the server it serves/ ],
    [ 'outside any virtual host, one of which has OBOCache none',
      "$BASE\nOBOCache memcached 127.0.0.1:1\nOBOCacheSecret obo-test-cache-secret-0123456789\n"
      . "<Location /obo-token>\n    $H\n</Location>\n<VirtualHost 127.0.0.1:*>\n"
      . "    ServerName v.test\n    OBOCache none\n</VirtualHost>", qr/needs a cache.*every server/ ],
) {
    my ($name, $conf, $re) = @$case;
    subtest "refused: a handler-only server with $name" => sub {
        my $c = check_config($conf, modules => ["authz_host"]);
        ok !$c->{syntax_ok}, 'apache2 -t fails' or diag $c->{output};
        ok !$c->{started}, 'httpd does not start';
        like $c->{output}, qr/OBO193: SetHandler obo-token \(<Location \/(obo-)?tok(en)?>/,
            'OBO193 names the handler' or diag $c->{output};
        like $c->{output}, $re, '... and what it needs';
    };
}
# A review found such a server accepted with an shm cache, where it can
# find no session: each virtual host has an shm cache of its own.
subtest 'refused: a handler-only virtual host with an shm cache' => sub {
    my $c = check_config("$BASE\n<VirtualHost 127.0.0.1:*>\n    ServerName a.test\n"
        . "    <Location /lr>\n        $LR\n    </Location>\n</VirtualHost>\n"
        . "<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    <Location /tok>\n        $H\n"
        . "    </Location>\n</VirtualHost>", modules => ["authz_host"]);
    ok !$c->{syntax_ok} && !$c->{started}, 'apache2 -t fails and httpd does not start'
        or diag $c->{output};
    like $c->{output}, qr/OBO193: SetHandler obo-token \(<Location \/tok>.*needs OBOCache memcached, shared with the servers that open the sessions/,
        'OBO193: it needs memcached' or diag $c->{output};
    $c = check_config("$BASE\n<Location /lr>\n    $LR\n</Location>\n<Location /obo-token>\n"
        . "    $H\n</Location>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started}, 'beside the server\'s own long-running Location: accepted'
        or diag $c->{output};
};
# Review 28B: a virtual host with directives of its own (here its own
# client credentials) has its own shm segment; the main server's
# long-running Location opens sessions there only for requests to the
# host, and the handler in the host answered 404 for sessions opened
# through the main server. Review 29: refusing it stopped servers whose
# sessions all come through the host: it is a warning (OBO198).
subtest 'a handler in a virtual host with its own shm cache: started, with OBO198' => sub {
    my $c = check_config("$BASE\n<Location /lr>\n    $LR\n</Location>\n"
        . "<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    OBOClientID middle-tier-api\n"
        . "    OBOClientSecret s3cret-for-tests\n    <Location /tok>\n        $H\n"
        . "    </Location>\n</VirtualHost>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
    like $c->{output}, qr/OBO198: SetHandler obo-token \(<Location \/tok>.*sessions opened through this virtual host's requests only/,
        'OBO198 says which sessions it will find' or diag $c->{output};
    $c = check_config("$BASE\n<Location /lr>\n    $LR\n</Location>\n<Location /obo-token>\n"
        . "    $H\n</Location>\n<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n"
        . "    <Location /api>\n        OBOAudience api://other\n    </Location>\n"
        . "</VirtualHost>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started},
       'review 29: a server-wide handler and a virtual host with one directive: started'
        or diag $c->{output};
    $c = check_config("$BASE\n<Location /lr>\n    $LR\n</Location>\n"
        . "<VirtualHost 127.0.0.1:*>\n    ServerName v.test\n    OBOClientID middle-tier-api\n"
        . "    OBOClientSecret s3cret-for-tests\n    <Location /vlr>\n        $LR\n    </Location>\n"
        . "    <Location /tok>\n        $H\n    </Location>\n</VirtualHost>",
        modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started} && $c->{output} !~ /OBO198/,
       'with a long-running Location of its own: no warning' or diag $c->{output};
};
subtest 'accepted: a handler-only server with credentials and memcached (no OBOScope)' => sub {
    my $c = check_config("$BASE\nOBOCache memcached 127.0.0.1:1\n"
                         . "OBOCacheSecret obo-test-cache-secret-0123456789\n"
                         . "<Location /obo-token>\n    $H\n</Location>", modules => ["authz_host"]);
    ok $c->{syntax_ok} && $c->{started}, 'apache2 -t passes and httpd starts' or diag $c->{output};
};
subtest 'a handler-only virtual host serves the sessions another one opened' => sub {
    my $key = cgi_env(obo_get('obo_lr_edge', '/lr/env', token => ut(fresh_user('lronly'))))
        ->{OBO_SESSION_KEY};
    ok $key, 'a session opened at obo_lr_edge';
    my $r = obo_get('obo_lr_tokens', '/token', token => undef,
                    headers => [ 'OBO-Session-Key' => $key ]);
    expect_status($r, 200, 'obo_lr_tokens hands its token (was 500, OBO136)');
    like json_body($r)->{access_token} // '', qr/^eyJ/, '... an access token';
    $r = obo_get('obo_lr_tokens', '/token', token => undef,
                 headers => [ 'OBO-Session-Key' => 'A' x 43 ]);
    is $r->code, 404, 'an unknown key: 404';
};

# A review found a 405 with "Allow: TRACE" (httpd builds Allow from
# allowed_methods) and an HTML body without no-store.
subtest 'methods the handlers do not serve: 405 with the right Allow' => sub {
    my $r = obo_request('obo_lr_tokens', 'PUT', '/token', token => undef,
                        headers => [ 'OBO-Session-Key' => 'A' x 43 ]);
    is $r->code, 405, 'PUT at obo-token: 405';
    is $r->header('Allow') // '', 'GET, POST, DELETE', '... Allow: GET, POST, DELETE';
    like $r->header('Cache-Control') // '', qr/no-store/, '... Cache-Control: no-store';
    is((json_body($r) // {})->{error}, 'invalid_request', '... a JSON error');
    $r = obo_request('obo_lr_tokens', 'POST', '/obo-status', token => undef);
    is $r->code, 405, 'POST at obo-status: 405';
    like $r->header('Allow') // '', qr/\bGET\b/, '... Allow names GET' or diag $r->header('Allow');
    unlike $r->header('Allow') // '', qr/POST/, '... and not POST';
    like $r->header('Cache-Control') // '', qr/no-store/, '... Cache-Control: no-store';
};

# Review 36B-F10: a server-level OBOScope (a default that every section
# inherits, e.g. from a conf-enabled snippet) made the handler compare each
# session with that set: every session of a Location with an OBOScope of its
# own answered 404 session_not_found (OBO330), to GET and DELETE alike. Only
# a handler whose own section names downstreams compares them.
subtest 'a server-level OBOScope: the handler serves sessions of Locations with their own' => sub {
    my $lib = libexecdir();
    my $name = 'httpd2srvds';
    my $extra = <<"CONF";
<IfModule !mod_authz_host.c>
    LoadModule authz_host_module "$lib/mod_authz_host.so"
</IfModule>
OBOScope api://server-default/.default
<Location /lr>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
    OBOScope downstream=graph api://graph/.default
    OBOLongRunning on
</Location>
<Location /tok>
    SetHandler obo-token
    Require local
</Location>
<Location /dstok>
    SetHandler obo-token
    Require local
    OBOScope api://server-default/.default
</Location>
CONF
    my $log = OBOTest::Services::logs_dir() . "/${name}_error_log";
    my $from = -s $log || 0;
    my $h = eval { OBOTest::Httpd2->start(procs => 1, tenant => 'lr', name => $name,
                                          extra => $extra) }
        or return fail("second httpd: $@");
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0, max_redirect => 0);
    my $open = sub {
        my $r = $ua->get($h->url('/lr/backend/x'),
                         Authorization => 'Bearer ' . ut(fresh_user('srvds')));
        expect_status($r, 200, 'a session opened at /lr');
        my ($key) = backend_header($r, 'OBO-Session-Key');
        return $key;
    };
    my $key = $open->();
    ok $key, 'the backend got its key' or return $h->stop;
    my $aud = sub {
        my $c = decode_idp_token((json_body($_[0]) // {})->{access_token});
        return ref $c eq 'HASH' ? (ref $c->{aud} ? $c->{aud}[0] : $c->{aud}) : '';
    };
    for my $case ([ '/tok', 'api://downstream' ], [ '/tok?downstream=graph', 'api://graph' ]) {
        my ($path, $want) = @$case;
        my $r = $ua->get($h->url($path), 'OBO-Session-Key' => $key);
        expect_status($r, 200, "GET $path: 200 (was 404 session_not_found)");
        is $aud->($r), $want, "... the session's token for $want";
    }
    my $r = $ua->request(HTTP::Request->new(DELETE => $h->url('/tok'),
                                            [ 'OBO-Session-Key' => $key ]));
    is $r->code, 204, 'DELETE: 204, the session ended (was 404)';
    $r = $ua->get($h->url('/tok'), 'OBO-Session-Key' => $key);
    is $r->code, 404, 'then GET: 404';
    $key = $open->();
    $r = $ua->get($h->url('/dstok'), 'OBO-Session-Key' => $key);
    is $r->code, 404, 'a handler whose own Location names another set: still 404, as documented';
    $h->stop;
    my $text = '';
    if (open my $fh, '<', $log) { seek $fh, $from, 0; local $/; $text = <$fh> // '' }
    my @o330 = $text =~ /(OBO330[^\n]*)/g;
    is scalar(@o330), 1, 'one OBO330, from /dstok' or diag join "\n", @o330;
};

# ---- at run time, where the startup check cannot see the handler
my $V = 'obo_lr_edge';

sub ut { my ($sub) = @_; return user_token($sub, 'lr') }

subtest 'H=obo-token in a long-running Location: the user gets no token, the session stays' => sub {
    my $tok = ut(fresh_user('lrplace'));
    my $r = obo_get($V, '/lr/env', token => $tok);
    my $key = cgi_env($r)->{OBO_SESSION_KEY};
    ok $key, 'a session for the user (control)';
    my $m = error_log_mark();
    for my $method ('GET', 'DELETE') {
        $r = obo_request($V, $method, '/lrh', token => $tok);
        isnt $r->code, 200, "$method: not 200";
        isnt $r->code, 204, "$method: not 204 (the session is not ended)";
        unlike $r->content // '', qr/access_token|eyJ/, "$method: no token in the answer"
            or diag substr($r->content, 0, 300);
    }
    like error_log_since($m), qr/OBO191: obo-token handler refused for \/lrh: this request opened or used a long-running session/,
        'OBO191 says why';
    $r = obo_get($V, '/token', headers => [ 'OBO-Session-Key' => $key ]);
    expect_status($r, 200, 'the backend still uses the session at the real handler');
};

subtest 'H=obo-token in an AuthType obo Location: refused even with a key the client sent' => sub {
    my $tok = ut(fresh_user('lrplace'));
    my $key = cgi_env(obo_get($V, '/lr/env', token => $tok))->{OBO_SESSION_KEY};
    ok $key, 'a session (control)';
    my $m = error_log_mark();
    my $r = obo_get($V, '/plainh', token => $tok, headers => [ 'OBO-Session-Key' => $key ]);
    is $r->code, 500, "answered 500";
    unlike $r->content // '', qr/access_token|eyJ/, 'no token in the answer';
    like error_log_since($m), qr/OBO191: obo-token handler refused for \/plainh: its configuration has AuthType obo/,
        'OBO191 says why';
};

done_testing();
