# SPDX-License-Identifier: Apache-2.0
# Several identity providers in one virtual host (obo_issuers): tenant issa,
# tenant second-issb (whose key set publishes key B under issa's kid
# "rsa-a"), a static provider from a JWKS file with its issuer on the line,
# and the multi-tenant "organizations" authority ({tenantid}). The token's
# iss selects the one provider whose keys may verify it; an unknown iss is
# refused without a network call; the exchange goes to the issuer's token
# endpoint; OBOAcceptIssuer narrows a Location.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use LWP::UserAgent;
use JSON::PP ();
use OBOTest::Config qw(check_config expect_config_errors);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_issuers';
my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $pki = OBOTest::Keys::pki_dir();
my $ISSA = "https://127.0.0.1:$port/issa/v2.0";
my $ISSB = "https://127.0.0.1:$port/second-issb/v2.0";

sub tok_a { my (%o) = @_; return mint(tenant => 'issa', %o) }
# second-issb signs with key B under the kid "rsa-a"
sub tok_b { my (%o) = @_; return mint(tenant => 'second-issb', kid => 'rsa-a', sign_key => 'rsa-b', %o) }

sub idp_traffic {
    my $c = idp_counters();
    my $n = 0;
    $n += $c->{$_} // 0 for qw(discovery jwks token token_ok);
    return $n;
}

# every provider has its keys (the first requests may have waited for them)
expect_ok(obo_get($V, '/api/env', token => tok_a()), 'warm-up: issa token: 200');
expect_ok(obo_get($V, '/api/env', token => tok_b()), 'warm-up: second-issb token: 200');
expect_ok(obo_get($V, '/api/env', token => mint(tid => '0c0c0c0c-2222-4333-8444-555566667777')),
          'warm-up: a token of a tenant of the organizations authority: 200');

# first, while no unknown kid has used the refetch throttle: with one
# provider for every token, each unknown kid would refetch its JWKS
subtest 'an unknown iss is refused without a network call' => sub {
    my $mark = error_log_mark();
    my $before = idp_traffic();
    for my $kid (qw(rsa-a unknown-kid-1 unknown-kid-2)) {
        my $t = mint(tenant => 'nobody', header => { kid => $kid }, drop => ['tid']);
        expect_invalid_token(obo_get($V, '/api/env', token => $t),
                             "iss of no provider, kid $kid: 401", token => $t, realm => 'issuers');
    }
    is idp_traffic() - $before, 0, 'the IdP was not contacted (no discovery, no JWKS refetch)';
    my $log = error_log_since($mark);
    like $log, qr/OBO470: .*issuer "https:\/\/127\.0\.0\.1:\d+\/nobody\/v2\.0"/,
         'OBO470 logged with the iss';
    # review 39B-F8: with the issuers to compare it with
    like $log, qr/OBO470: .*\(their issuers: https:\/\/127\.0\.0\.1:\d+\/issa\/v2\.0 \| .*second-issb/,
         '... and every provider\'s issuers' or diag $log;
};

# review 36A-F3: a further provider chooses its sub freely; with the bare
# claim as REMOTE_USER its token passed Require user of the first
# provider's user of that name, and the backend saw the same user
subtest 'a further provider\'s user is user@issuer: it cannot take a first provider user\'s name' => sub {
    expect_ok(obo_get($V, '/alice/env', token => tok_a(claims => { sub => 'alice-a' })),
              'issa\'s alice-a: Require user alice-a: 200', user => 'alice-a');
    my $r = obo_get($V, '/alice/env', token => tok_b(claims => { sub => 'alice-a' }));
    is $r->code, 403, 'second-issb\'s token with sub alice-a: Require user alice-a: 403';
    expect_ok(obo_get($V, '/api/env', token => tok_b(claims => { sub => 'alice-a' })),
              'the same token where any user may: REMOTE_USER alice-a@issuer',
              user => "alice-a\@$ISSB");
    expect_ok(obo_get($V, '/bare/env', token => tok_b(claims => { sub => 'alice-a' })),
              'OBORemoteUserClaim sub bare: REMOTE_USER alice-a', user => 'alice-a');
};

# review 37C-F7: a further provider's discovery document named the
# primary's issuer while the primary's discovery was unavailable: its own
# key then verified tokens in the primary's name (200 before)
subtest 'a further provider\'s discovery naming the primary\'s issuer verifies none of its tokens' => sub {
    my ($pt, $ht) = ('selp', 'second-selh');
    idp_set("discovery_fault\@$ht" => "issuer_of:$pt", "discovery_fault\@$pt" => '500');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/$pt/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $forged = mint(tenant => $pt, kid => 'rsa-a', sign_key => 'rsa-b', claims => { sub => 'forged' });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$ht" => '', "discovery_fault\@$pt" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    isnt $c->{probe}->code, 200, 'a token signed with the further provider\'s key in the primary\'s name: refused'
        or diag describe($c->{probe});

};

# review 38E-F1, 38F-F2: the claim from the discovery URL held only for the
# plain form: a query (?appid=, ?p=), or a multi-tenant primary, let the
# hostile document's issuer select it again (200)
for my $case (
    [ 'a primary whose discovery URL has ?appid=, its discovery down', 'selq', '?appid=00000000-0000-0000-0000-000000000001', 1, undef ],
    [ 'an organizations primary, its discovery down', 'organizations', '', 1, 'seltn' ],
    [ 'a hostile provider listed before the victim, whose URL has ?appid=', 'selv', '?appid=00000000-0000-0000-0000-000000000002', 0, undef ],
) {
    my ($name, $vt, $query, $down, $tid) = @$case;
    subtest "a hostile further provider cannot take an issuer: $name" => sub {
        my $ht = "second-h$vt";
        my $victim_tenant = $tid // $vt;
        idp_set("discovery_fault\@$ht" => "issuer_of:$victim_tenant",
                $down ? ("discovery_fault\@$vt" => '500') : ());
        my $v = "OBOMetadataURL https://127.0.0.1:$port/$vt/v2.0/.well-known/openid-configuration$query\n";
        my $h = "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n";
        my $conf = ($down ? "$v$h" : "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n$h$v")
                 . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
                 . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
        my %tid = $tid ? (tid => $tid) : ();
        my $forged = mint(tenant => $victim_tenant, %tid, kid => 'rsa-a', sign_key => 'rsa-b',
                          claims => { sub => 'forged' });
        my $real = mint(tenant => $victim_tenant, %tid);
        my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
        my $c = check_config($conf, probe => sub {
            my $url = "http://127.0.0.1:$_[0]/public.txt";
            return [ $ua->get($url, Authorization => "Bearer $forged"),
                     $ua->get($url, Authorization => "Bearer $real") ];
        });
        idp_set("discovery_fault\@$ht" => '', "discovery_fault\@$vt" => '');
        ok $c->{started}, 'httpd starts' or return diag $c->{output};
        my ($f, $r) = @{ $c->{probe} };
        isnt $f->code, 200, 'the token signed with the hostile provider\'s key: refused'
            or diag describe($f);
        is $r->code, $down ? 503 : 200, $down ? 'the victim\'s real token: 503 while its discovery is down'
                                           : 'the victim\'s real token: 200'
            or diag describe($r);
    };
}

# ... and an issuer two documents name, which no provider is configured for
# (a B2C-like provider whose URL does not name its issuer): neither
subtest 'two discovery documents naming one issuer: neither verifies its tokens (OBO474)' => sub {
    my ($vt, $ht) = ('selw', 'second-hselw');
    idp_set("discovery_fault\@$vt" => 'wrong_issuer', "discovery_fault\@$ht" => 'issuer_of:someone-else');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$vt/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $forged = mint(tenant => 'someone-else', kid => 'rsa-a', sign_key => 'rsa-b');
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$vt" => '', "discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 401, 'the token in that issuer\'s name: 401' or diag describe($c->{probe});
    like $c->{output}, qr/OBO474: the discovery documents of two identity providers/, 'OBO474 says why'
        or diag $c->{output};
    # review 40B-F6: which issuer, which two providers' documents
    like $c->{output}, qr{OBO474: [^\n]*\(provider \d+, \S*/\Q$vt\E/[^;]*; provider \d+, \S*/\Q$ht\E/[^)]*\)[^\n]*issuer "https://127\.0\.0\.1:$port/someone-else/v2\.0/?"},
         '... naming the issuer and both providers' or diag $c->{output};
};

# A provider named for an issuer in the configuration selects before one
# whose discovery URL only derives it: the primary's URL claims ".../issa/v2.0"
# with and without a final '/', and shadowed a key-file provider written for
# ".../issa/v2.0/" (its tokens were refused: 401).
subtest 'a written issuer selects before one derived from a discovery URL' => sub {
    my $iss = "https://127.0.0.1:$port/issa/v2.0/";
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOJWKSFile $pki/jwks-static.json $iss\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        my $url = "http://127.0.0.1:$_[0]/public.txt";
        return [ $ua->get($url, Authorization => 'Bearer ' . mint(claims => { iss => $iss })),
                 $ua->get($url, Authorization => 'Bearer ' . mint(tenant => 'issa')) ];
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    my ($file, $primary) = @{ $c->{probe} };
    is $file->code, 200, 'the key-file provider\'s token (iss with a final /): 200'
        or diag describe($file);
    is $primary->code, 200, 'the primary\'s own token: 200' or diag describe($primary);
    unlike $c->{output}, qr/OBO475/, 'no OBO475: the written issuer differs from the derived one';
};

# review 39B-F1: a JWKS line with issuers is never the primary provider, even
# as the only one: its users were bare names (Require user alice let a
# partner's alice in), as the docs say they never are
subtest 'the only provider a JWKS line with issuers: value@issuer' => sub {
    my $iss = 'https://static.example.test/lone';
    my $t = mint(claims => { iss => $iss, sub => 'alice' });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    for my $case (['alice', 403], ["alice\@$iss", 200]) {
        my $c = check_config("OBOJWKSFile $pki/jwks-static.json $iss\nOBOAudience api://test-api\n"
                             . "<Location />\n AuthType obo\n Require user $case->[0]\n</Location>",
            probe => sub { $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $t") });
        ok $c->{started}, 'httpd starts' or return diag $c->{output};
        is $c->{probe}->code, $case->[1], "Require user $case->[0]: $case->[1]"
            or diag describe($c->{probe});
    }
};

# review 39B-F10: the status page's provider table named the discovery URL
# where an issuer-less OBOJWKSFile gives the keys
subtest 'the status page names the JWKS file that overrides discovery\'s keys' => sub {
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOJWKSFile $pki/jwks-static.json\n"
             . "OBOMetadataURL https://127.0.0.1:$port/second-issb/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location /obo-status>\n SetHandler obo-status\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/obo-status")->decoded_content;
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    like $c->{probe}, qr{<tr><td>\d+</td><td>[^<]*jwks-static\.json</td>}, 'keys from the file'
        or diag $c->{probe};
    like $c->{probe}, qr{<tr><td>\d+</td><td>[^<]*second-issb[^<]*</td>}, 'the other from discovery';
};

# review 39B-F5: a {tenantid} issuer of the first provider selected a later
# provider's tokens of one tenant (checked with the first one's keys: 401); an
# exact issuer now selects before a template
subtest 'an exact issuer selects before a {tenantid} one' => sub {
    my $file = "$pki/jwks-rsa-b.json";
    open my $fh, '>', $file or die "$file: $!";
    print $fh JSON::PP->new->encode(OBOTest::Keys::jwks('rsa-b'));
    close $fh;
    my $tmpl = 'https://tmpl.example.test/{tenantid}/v2.0';
    my $partner = 'https://tmpl.example.test/partnertid/v2.0';
    my $conf = "OBOJWKSFile $pki/jwks-static.json\nOBOIssuer $tmpl\n"
             . "OBOJWKSFile $file $partner\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my %t = (
        partner => mint(kid => 'rsa-b', claims => { iss => $partner, tid => 'partnertid' }),
        tenant  => mint(claims => { iss => 'https://tmpl.example.test/othertid/v2.0', tid => 'othertid' }),
        forged  => mint(claims => { iss => $partner, tid => 'partnertid' }),
    );
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return { map { $_ => $ua->get("http://127.0.0.1:$_[0]/public.txt",
                                      Authorization => "Bearer $t{$_}") } keys %t };
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}{partner}->code, 200, 'the single tenant\'s provider verifies its token'
        or diag describe($c->{probe}{partner});
    is $c->{probe}{tenant}->code, 200, 'another tenant: the template provider'
        or diag describe($c->{probe}{tenant});
    is $c->{probe}{forged}->code, 401, 'the template provider\'s key claiming that tenant: 401'
        or diag describe($c->{probe}{forged});
};

# review 38G-F2: a further provider's document naming a bare issuer
# ("corp.example") made its user alice "alice@corp.example", the name of a
# primary user: a discovery issuer must be an https URL
subtest 'a further provider whose discovery issuer is no URL: its tokens are refused' => sub {
    my $ht = 'second-hraw';
    idp_set("discovery_fault\@$ht" => 'raw_issuer:corp.example');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBORemoteUserClaim upn\nOBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require user alice\@corp.example\n</Location>";
    my $forged = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b',
                      claims => { iss => 'corp.example', upn => 'alice' });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    isnt $c->{probe}->code, 200, 'its token is not alice@corp.example' or diag describe($c->{probe});
};

# review 39A-F6 (high): an issuer with CR LF was taken; REMOTE_USER
# "alice@https://evil.example/x\r\nX-Injected: 1" split the headers a backend got
subtest 'a further provider whose discovery issuer holds a line break: refused' => sub {
    my $ht = 'second-hcrlf';
    my $iss = "https://evil.example/x\r\nX-Injected: 1";
    idp_set("discovery_fault\@$ht" => 'crlf_issuer');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $forged = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b',
                      claims => { iss => $iss, sub => 'alice' });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    isnt $c->{probe}->code, 200, 'its token is refused' or diag describe($c->{probe});
    like $c->{output}, qr/issuer is not an https URL \(visible ASCII/, 'the document refused, said why'
        or diag $c->{output};
};

# review 39A-F11: a primary with OBOIssuer (its v1 issuer only) left the
# issuer its URL names to any further document naming it: a hostile further
# IdP verified tokens in the primary's v2 name with its own key (200)
# review 39A-F10: an HTTPS:// discovery URL claimed no issuer (the case of
# scheme and host), so its tokens waited for the other providers (503)
subtest 'the issuer a discovery URL names is claimed with OBOIssuer, and without case' => sub {
    my $ht = 'second-hv1';
    idp_set("discovery_fault\@$ht" => 'issuer_of:issa');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOIssuer https://sts.example.test/issa/\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $forged = mint(tenant => 'issa', kid => 'rsa-a', sign_key => 'rsa-b');
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 401, 'a further IdP\'s key in the primary\'s v2 name: 401'
        or diag describe($c->{probe});

    my $dt = 'second-hdown';
    idp_set("discovery_fault\@$dt" => 'down');
    $conf = "OBOMetadataURL HTTPS://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
          . "OBOMetadataURL https://127.0.0.1:$port/$dt/v2.0/.well-known/openid-configuration\n"
          . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
          . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => 'Bearer ' . tok_a());
    });
    idp_set("discovery_fault\@$dt" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'HTTPS:// URL, another provider down: its own token 200'
        or diag describe($c->{probe});
};

# review 39A-F8: a further provider whose URL does not name its issuer (B2C)
# could not be pinned: another provider's document naming the same issuer
# turned its users away (OBO474). Its issuer is written after its URL.
subtest 'a further OBOMetadataURL with its issuer written: another document cannot contest it' => sub {
    my ($b2c, $rival) = ('second-hb2c', 'second-hrival');
    idp_set("discovery_fault\@$b2c" => 'issuer_of:b2creal', "discovery_fault\@$rival" => 'issuer_of:b2creal');
    my $iss = "https://127.0.0.1:$port/b2creal/v2.0";
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$b2c/v2.0/.well-known/openid-configuration?p=B2C_1_x $iss\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$rival/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    # both publish rsa-b under kid rsa-a ("second" tenants)
    my $t = mint(tenant => $b2c, kid => 'rsa-a', sign_key => 'rsa-b', claims => { iss => $iss });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $t");
    });
    idp_set("discovery_fault\@$b2c" => '', "discovery_fault\@$rival" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'the B2C user\'s token: 200 (its written issuer selects it)'
        or diag describe($c->{probe});
    unlike $c->{output}, qr/OBO474/, 'no OBO474';
};

# review 40B-F11: a pin listing an issuer no provider is configured for let
# in a further provider whose document named it (200 at an employees-only
# Location); a pin admits only a provider configured for the issuer
subtest 'OBOAcceptIssuer: an issuer only a further document names does not pass a pin' => sub {
    my $ht = 'second-hpin';
    idp_set("discovery_fault\@$ht" => 'issuer_of:pinv1');
    my $v1 = "https://127.0.0.1:$port/pinv1/v2.0";
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n"
             . " OBOAcceptIssuer https://127.0.0.1:$port/issa/v2.0 $v1\n</Location>";
    my $forged = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b', claims => { iss => $v1 });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        my $url = "http://127.0.0.1:$_[0]/public.txt";
        return [ $ua->get($url, Authorization => "Bearer $forged"),
                 $ua->get($url, Authorization => 'Bearer ' . tok_a()) ];
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}[0]->code, 401, 'the further provider\'s token in the pinned issuer\'s name: 401'
        or diag describe($c->{probe}[0]);
    is $c->{probe}[1]->code, 200, 'the primary\'s token: 200' or diag describe($c->{probe}[1]);
    like $c->{output}, qr/OBO478: OBOAcceptIssuer \Q$v1\E/, 'and OBO478 said so at startup';
};

# review 40A-F4: a further provider's document named the primary's token
# endpoint (through another host name): the module fetched the primary
# tenant's application token for that provider's users
subtest 'a further provider\'s endpoints must be on its discovery URL\'s host' => sub {
    my $ht = 'second-hte';
    idp_set("discovery_fault\@$ht" => 'token_endpoint_of:issa@localhost');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "OBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests\n"
             . "<Location />\n AuthType obo\n Require valid-user\n"
             . " OBOScope api://downstream/.default app\n</Location>";
    my $t = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b');
    my $before = idp_counters();
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $t");
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    isnt $c->{probe}->code, 200, 'no application token for its user' or diag describe($c->{probe});
    is((idp_counters()->{'cc@issa'} // 0) - ($before->{'cc@issa'} // 0), 0,
       'none was asked for at the primary\'s token endpoint');
    like $c->{output}, qr/OBO077: discovery document from .*$ht.* names its token_endpoint on another host/,
         'OBO077 says why' or diag $c->{output};
};

# review 40B-F3, 41-F7: a host's own OBOIssuer under the main server's
# provider replaces the issuers on that provider's OBOMetadataURL line too (a
# host narrows what the main server accepts; documented)
subtest 'a host\'s OBOIssuer replaces the issuers on the inherited OBOMetadataURL line' => sub {
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/issa/v2.0/.well-known/openid-configuration "
             . "https://127.0.0.1:$port/issa/v2.0\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>\n"
             . "<VirtualHost 127.0.0.1:*>\n ServerName v.test\n OBOIssuer https://sts.example.test/issa/\n"
             . "</VirtualHost>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => 'Bearer ' . tok_a());
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 401, 'the line\'s issuer is not accepted in the host that narrows it'
        or diag describe($c->{probe}), $c->{output};
};

# review 41-F1: one discovery URL, the primary of host a.test and a further
# provider of host b.test, with one cache identity: one provider object
# (made for a.test's primary) served both, so b.test skipped OBO077 and its
# user got the application token a.test's exchange had cached (200)
subtest 'OBO077 holds where the same URL is another host\'s primary' => sub {
    my $ht = 'second-hte2';
    idp_set("discovery_fault\@$ht" => 'token_endpoint_of:issa@localhost');
    my %p = OBOTest::Services::ports();
    my $md = sub { "OBOMetadataURL https://127.0.0.1:$port/$_[0]/v2.0/.well-known/openid-configuration" };
    my $loc = "<Location />\n AuthType obo\n Require valid-user\n"
            . " OBOScope api://downstream/.default app\n</Location>";
    my $conf = join("\n", $md->('issa'), 'OBOPreloadKeys off',
                    "OBOCache memcached 127.0.0.1:$p{memcached}",
                    "OBOCacheSecret file:$pki/cache-secret.txt", "OBOCACertificateFile $pki/ca.pem",
                    'OBOAudience api://test-api', 'OBOClientID middle-tier-api',
                    'OBOClientSecret s3cret-for-tests',
                    "<VirtualHost 127.0.0.1:*>\n ServerName b.test\n " . $md->('issa') . "\n "
                    . $md->($ht) . "\n$loc\n</VirtualHost>",
                    "<VirtualHost 127.0.0.1:*>\n ServerName a.test\n " . $md->($ht)
                    . "\n$loc\n</VirtualHost>");
    my $t = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b');
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        my $url = "http://127.0.0.1:$_[0]/public.txt";
        return [ $ua->get($url, Host => 'a.test', Authorization => "Bearer $t"),
                 $ua->get($url, Host => 'b.test', Authorization => "Bearer $t") ];
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}[0]->code, 200, 'a.test (the URL is its primary): 200' or diag describe($c->{probe}[0]);
    isnt $c->{probe}[1]->code, 200, 'b.test (a further provider there): no application token'
        or diag describe($c->{probe}[1]);
    like $c->{output}, qr/OBO077|another host than its discovery URL/, 'OBO077 said'
        or diag $c->{output};
};

# review 41-F2: tenants written one by one in the primary's OBOIssuer with a
# multi-tenant OBOTokenEndpoint: each tenant's token goes to its own tenant
subtest 'the primary\'s tenants written one by one still choose their tenant endpoint' => sub {
    my ($ta, $tb) = ('0c0c0c0c-4444-4444-8444-555566667777', '0c0c0c0c-5555-4555-8555-555566667777');
    my $conf = join("\n", "OBOJWKSFile $pki/jwks-static.json",
                    "OBOIssuer https://127.0.0.1:$port/$ta/v2.0 https://127.0.0.1:$port/$tb/v2.0",
                    "OBOTokenEndpoint https://127.0.0.1:$port/organizations/oauth2/v2.0/token",
                    "OBOCACertificateFile $pki/ca.pem", 'OBOAudience api://test-api',
                    'OBOClientID middle-tier-api', 'OBOClientSecret s3cret-for-tests',
                    "<Location />\n AuthType obo\n Require valid-user\n"
                    . " OBOScope api://downstream/.default app\n</Location>");
    my $t = mint(claims => { iss => "https://127.0.0.1:$port/$tb/v2.0", tid => $tb });
    my $before = idp_counters();
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $t");
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'tenant B\'s token: 200' or diag describe($c->{probe});
    is((idp_counters()->{"cc\@$tb"} // 0) - ($before->{"cc\@$tb"} // 0), 1, 'asked at its own tenant');
};

# review 41-F3: a primary whose discovery URL does not name its issuer (B2C,
# CIAM, a domain-name Entra URL) behind a pin, with a second provider: 200
subtest 'a pin admits the primary\'s document-learnt issuer' => sub {
    my $pt = 'pinprim';
    idp_set("discovery_fault\@$pt" => 'issuer_of:pinprimreal');
    my $real = "https://127.0.0.1:$port/pinprimreal/v2.0";
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/$pt/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/second-issb/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n OBOAcceptIssuer $real\n</Location>";
    my $t = mint(tenant => $pt, claims => { iss => $real });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $t");
    });
    idp_set("discovery_fault\@$pt" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'the primary\'s token: 200' or diag describe($c->{probe});
};

# review 42-F1: a tenant's issuer of a multi-tenant primary with a tid that
# does not match it was claimed by no provider, and a further provider whose
# document named that issuer verified it with its own key (200)
subtest 'a {tenantid} primary claims its tenants\' issuers whatever the tid' => sub {
    my $ht = 'second-hr42';
    idp_set("discovery_fault\@$ht" => 'issuer_of:seltn');
    my $conf = "OBOMetadataURL https://127.0.0.1:$port/organizations/v2.0/.well-known/openid-configuration\n"
             . "OBOMetadataURL https://127.0.0.1:$port/$ht/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $forged = mint(tenant => $ht, kid => 'rsa-a', sign_key => 'rsa-b',
                      claims => { iss => "https://127.0.0.1:$port/seltn/v2.0", tid => 'other-tenant',
                                  sub => 'forged' });
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $forged");
    });
    idp_set("discovery_fault\@$ht" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 401, 'the further provider\'s token in a tenant\'s name: 401'
        or diag describe($c->{probe});
};

subtest 'two issuers with a colliding kid: each token verifies with its own key only' => sub {
    expect_ok(obo_get($V, '/api/env', token => tok_a(claims => { sub => 'alice-a' })),
              'issa, key A under kid rsa-a: 200', user => 'alice-a');
    expect_ok(obo_get($V, '/api/env', token => tok_b(claims => { sub => 'bob-b' })),
              'second-issb, key B under kid rsa-a: 200', user => "bob-b\@$ISSB");
    my $t = mint(tenant => 'second-issb', kid => 'rsa-a');
    expect_invalid_token(obo_get($V, '/api/env', token => $t),
                         'key A (issa\'s) claiming second-issb\'s iss: 401', token => $t,
                         realm => 'issuers');
    $t = mint(tenant => 'issa', kid => 'rsa-a', sign_key => 'rsa-b');
    expect_invalid_token(obo_get($V, '/api/env', token => $t),
                         'key B (second-issb\'s) claiming issa\'s iss: 401', token => $t,
                         realm => 'issuers');
    $t = mint(tenant => 'second-issb', kid => 'rsa-b', sign_key => 'rsa-b');
    expect_invalid_token(obo_get($V, '/api/env', token => $t),
                         'key B under its own kid (not in second-issb\'s set): 401', token => $t,
                         realm => 'issuers');
};

subtest 'a static provider (OBOJWKSFile path issuer) and a {tenantid} provider' => sub {
    my $before = idp_traffic();
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { iss => 'https://static.example.test/issc' })),
              'issuer of the JWKS file, key A: 200');
    is idp_traffic() - $before, 0, '... verified with the file, no IdP call';
    my $t = mint(kid => 'rsa-a', sign_key => 'rsa-b',
                 claims => { iss => 'https://static.example.test/issc' });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'issc with key B: 401', token => $t,
                         realm => 'issuers');
    my $tid = '5d3c0f1e-1111-4222-8333-444455556666';
    expect_ok(obo_get($V, '/api/env', token => mint(tid => $tid)),
              'a tenant of the organizations authority ({tenantid}): 200');
    $t = mint(tid => $tid, claims => { tid => '6d3c0f1e-1111-4222-8333-444455556666' });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'template iss, other tid: 401',
                         token => $t, realm => 'issuers');
};

subtest 'the exchange goes to the token endpoint of the provider that issued the token' => sub {
    my $d = counter_delta(sub {
        my $r = obo_get($V, '/xenv/env', token => tok_a(claims => { sub => fresh_user('xa') }));
        expect_ok($r, 'issa token, exchange: 200');
        ok length(cgi_env($r)->{OBO_ACCESS_TOKEN} // ''), '... downstream token handed over';
    }, 'token_ok@issa', 'token_ok@second-issb', 'token_error');
    is_deeply $d, { 'token_ok@issa' => 1, 'token_ok@second-issb' => 0, token_error => 0 },
              'issa\'s token endpoint was asked';
    $d = counter_delta(sub {
        my $r = obo_get($V, '/xenv/env', token => tok_b(claims => { sub => fresh_user('xb') }));
        expect_ok($r, 'second-issb token, exchange: 200');
        ok length(cgi_env($r)->{OBO_ACCESS_TOKEN} // ''), '... downstream token handed over';
    }, 'token_ok@issa', 'token_ok@second-issb', 'token_error');
    is_deeply $d, { 'token_ok@issa' => 0, 'token_ok@second-issb' => 1, token_error => 0 },
              'second-issb\'s token endpoint was asked (it verifies with key B)';
};

subtest 'OBOAcceptIssuer narrows a Location to some of the providers' => sub {
    expect_ok(obo_get($V, '/onlya/env', token => tok_a()), 'issa token: 200');
    my $t = tok_b();
    expect_ok(obo_get($V, '/api/env', token => $t), 'a second-issb token passes elsewhere');
    my $mark = error_log_mark();
    my $before = idp_traffic();
    expect_invalid_token(obo_get($V, '/onlya/env', token => $t),
                         'the same token (validated before) at the OBOAcceptIssuer Location: 401',
                         token => $t, realm => 'issuers');
    $t = tok_b(header => { kid => 'another-unknown-kid' });
    expect_invalid_token(obo_get($V, '/onlya/env', token => $t),
                         'second-issb token with an unknown kid: 401', token => $t,
                         realm => 'issuers');
    is idp_traffic() - $before, 0, 'no IdP call for them';
    like error_log_since($mark), qr/OBO471: /, 'OBO471 logged';
};

# Review 16 F1: an opaque token of issa (or naming no issuer) passed a
# Location that accepts only second-issb.
subtest 'OBOAcceptIssuer applies to introspected (opaque) tokens too' => sub {
    my %c = (active => JSON::PP::true, aud => 'api://test-api', exp => time + 600);
    my $oa = idp_opaque(%c, sub => fresh_user('opq'), iss => $ISSA);
    my $on = idp_opaque(%c, sub => fresh_user('opq'));
    expect_ok(obo_get($V, '/onlya-auto/env', token => $oa),
              'an answer with iss issa where issa is accepted: 200');
    my $mark = error_log_mark();
    expect_invalid_token(obo_get($V, '/onlyb-auto/env', token => $oa),
                         'the same where only second-issb is accepted: 401', token => $oa,
                         realm => 'issuers');
    my $r = obo_get($V, '/onlyb-auto/env', token => $on);
    expect_invalid_token($r, 'an answer without iss there: 401', token => $on,
                         realm => 'issuers');
    like((www_authenticate($r) // {})->{params}{error_description} // '', qr/names none/,
         'error_description says the answer names no issuer');
    like error_log_since($mark), qr/OBO424: .*issuer not accepted/, 'OBO424 logged';
};

# Review 13A F1: a session's owner was tid+oid alone: a user of second-issb
# whose token named an issa user's tid and oid ended that user's session
# (OBOSessionLimit 1) and locked out their token.
subtest 'sessions: a user of one provider is not the same user at another' => sub {
    my $sub = fresh_user('lrv');
    my $oid = oid_of($sub);
    my $vt = tok_a(claims => { sub => $sub, oid => $oid });
    my $r = obo_get($V, '/lr/env', token => $vt);
    my $vkey = $r->code == 200 ? cgi_env($r)->{OBO_SESSION_KEY} : undef;
    ok $vkey, 'the issa user opens a session' or return;
    my $get = sub {
        obo_request($V, 'GET', '/obo-token', headers => [ 'OBO-Session-Key' => $_[0] ])->code;
    };
    is $get->($vkey), 200, 'its key works';
    my $at = tok_b(claims => { sub => 'someone-else', tid => 'issa', oid => $oid });
    $r = obo_get($V, '/lr/env', token => $at);
    is $r->code, 200, 'a second-issb token naming the same tid and oid opens its own session';
    is $get->($vkey), 200, 'the issa user\'s session lives on (OBOSessionLimit 1 not shared)';
    expect_ok(obo_get($V, '/lr/env', token => $vt), 'and the issa user\'s token still works');
    my $vt2 = tok_a(claims => { sub => $sub, oid => $oid });
    is obo_get($V, '/lr/env', token => $vt2)->code, 200, 'the issa user\'s second session';
    is $get->($vkey), 404, 'ends its first (the limit still holds per user)';
};

# Review 14C: the token's tid chose the tenant of /organizations/ whatever
# provider issued it: a partner provider's user got this application's
# token for a tenant of their choosing.
subtest 'only an issuer that names the tenant chooses it' => sub {
    my $T = 'obo_tenant_pick';
    my $evil = 'deadbeef-0000-4000-8000-00000000abcd';
    my $before = idp_counters();
    my $t = mint(claims => { iss => 'https://static.example.test/issc', tid => $evil,
                             sub => fresh_user('partner') });
    my $r = obo_get($T, '/app/env', token => $t);
    is $r->code, 500, 'a partner token (static issuer, any tid): no token (the configured '
       . '/organizations/ authority gives no application token: OBO053)';
    unlike $r->decoded_content // '', qr/OBO_ACCESS_TOKEN/, 'nothing handed to the backend';
    my $after = idp_counters();
    is(($after->{"cc\@$evil"} // 0) - ($before->{"cc\@$evil"} // 0), 0,
       'no application token was asked for in the tid it named');
    # review 40A-F4b: a partner whose own iss names the tid it put in its
    # token (as Entra's issuers do) chose the tenant too
    my $named = 'deadbeef-0000-4000-8000-00000000abce';
    $r = obo_get($T, '/app/env', token => mint(claims => {
        iss => "https://partner.example.test/$named/v2.0", tid => $named, sub => fresh_user('partner') }));
    is $r->code, 500, 'a partner whose iss names its tid: no token either' or diag describe($r);
    is((idp_counters()->{"cc\@$named"} // 0) - ($before->{"cc\@$named"} // 0), 0,
       'no application token was asked for in that tid');
    my $good = '0c0c0c0c-3333-4333-8444-555566667777';
    $r = obo_get($T, '/app/env', token => mint(tid => $good, claims => { sub => fresh_user('org') }));
    expect_ok($r, 'a token of the organizations authority: 200');
    is((idp_counters()->{"cc\@$good"} // 0) - ($before->{"cc\@$good"} // 0), 1,
       'its own tenant (named by its issuer) was used');
};

subtest 'metrics: the label provider="N", numbered on the status page' => sub {
    my $html = obo_get($V, '/obo-status')->decoded_content // '';
    my %num;
    while ($html =~ m{<tr><td>(\d+)</td><td>([^<]+)</td>}g) { $num{$2} = $1 }
    my ($na) = map { $num{$_} } grep { m{/issa/} } keys %num;
    my ($nb) = map { $num{$_} } grep { m{/second-issb/} } keys %num;
    ok $na && $nb && $na != $nb, "the status page numbers both providers ($na, $nb)"
        or diag $html;
    my $prov = sub { (json_body(obo_get($V, '/obo-status?format=json')) || {})->{providers} || {} };
    my $tok = sub { my ($pv, $n) = @_; return $pv->{$n}{idp_requests}{token}{ok} // 0 };
    my $before = $prov->();
    expect_ok(obo_get($V, '/xenv/env', token => tok_b(claims => { sub => fresh_user('mb') })),
              'second-issb token, exchange: 200');
    my $after = $prov->();
    is $tok->($after, $nb) - $tok->($before, $nb), 1, "provider=\"$nb\" (second-issb): one token call";
    is $tok->($after, $na) - $tok->($before, $na), 0, "provider=\"$na\" (issa): none";
    ok(($after->{$na}{key_sets}{idp} // 0) >= 1 && ($after->{$nb}{key_sets}{idp} // 0) >= 1,
       'each provider counts its own key sets');
    my $pr = obo_get($V, '/obo-status?format=prometheus')->decoded_content // '';
    like $pr, qr/^mod_auth_obo_provider_idp_requests_total\{provider="$nb",endpoint="token",outcome="ok"\} [1-9]/m,
         'Prometheus: mod_auth_obo_provider_idp_requests_total with the provider label';
    like $pr, qr/^mod_auth_obo_provider_key_sets_total\{provider="$na",source="idp"\} [1-9]/m,
         'Prometheus: mod_auth_obo_provider_key_sets_total';
};

subtest 'configtest: several providers' => sub {
    my $md = sub { "OBOMetadataURL https://127.0.0.1:$port/$_[0]/v2.0/.well-known/openid-configuration" };
    my $loc = "<Location /api>\n AuthType obo\n Require valid-user\n</Location>";
    my $aud = 'OBOAudience api://test-api';
    expect_config_errors(
        ['the same OBOMetadataURL twice', join("\n", $md->('cfa'), $md->('cfa'), $aud, $loc),
         qr/OBOMetadataURL: '.*cfa.*' is named twice/],
        ['OBOJWKSURL with issuers over http',
         join("\n", $md->('cfa'), 'OBOJWKSURL http://127.0.0.1/keys https://x.example/', $aud, $loc),
         qr/OBOJWKSURL: 'http:\/\/127\.0\.0\.1\/keys' is not an https URL/],
        # review 39A-F7: TAKE_ARGV ended the list at "": the partner's file
        # became the primary provider's keys
        ['an empty issuer on a JWKS line', join("\n", $md->('cfa'),
         "OBOJWKSFile $pki/jwks-static.json \"\"", $aud, $loc),
         qr/OBOJWKSFile: an empty argument/],
        ['an empty issuer after another', join("\n", $md->('cfa'),
         "OBOJWKSURL https://127.0.0.1:1/keys https://x.example/ \"\"", $aud, $loc),
         qr/OBOJWKSURL: an empty argument/],
        # review 39B-F7: one of the two was ignored
        ['OBOJWKSURL and OBOJWKSFile without issuers', join("\n",
         'OBOJWKSURL https://127.0.0.1:1/keys', "OBOJWKSFile $pki/jwks-static.json",
         'OBOIssuer https://x.example/', $aud, $loc),
         qr/OBOJWKSFile: '.*jwks-static\.json': this server's keys are named already/],
        ['an empty issuer on an OBOMetadataURL line', join("\n", $md->('cfa'),
         $md->('cfb') . ' ""', $aud, $loc), qr/OBOMetadataURL: an empty argument/],
        ['OBOJWKSFile with issuers, missing file',
         join("\n", $md->('cfa'), 'OBOJWKSFile /nonexistent/jwks.json https://x.example/', $aud, $loc),
         qr/OBOJWKSFile: cannot read file/],
        ['OBOAcceptIssuer without a value', join("\n", $md->('cfa'), $aud,
         "<Location /api>\n AuthType obo\n Require valid-user\n OBOAcceptIssuer\n</Location>"),
         qr/OBOAcceptIssuer/],
        # review 13B: an https URL without a host passed
        ['OBOMetadataURL without a host', join("\n",
         'OBOMetadataURL https:///v2.0/.well-known/openid-configuration', $aud, $loc),
         qr/OBOMetadataURL: 'https:\/\/\/v2\.0\/\.well-known\/openid-configuration' is not an https URL with a host/],
        ['OBOTokenEndpoint with a port but no host', join("\n", $md->('cfa'), $aud,
         'OBOTokenEndpoint https://:443/t', $loc), qr/OBOTokenEndpoint: .* with a host/],
        ['one issuer named by two providers', join("\n", $md->('cfa'),
         "OBOJWKSFile $pki/jwks-static.json https://same.example/",
         'OBOJWKSURL https://127.0.0.1:1/keys https://same.example/', $aud, $loc),
         qr/OBO473: issuer https:\/\/same\.example\/ is named by two identity providers/],
        ['OBOTokenEndpoint with port 0', join("\n", $md->('cfa'), $aud,
         'OBOTokenEndpoint https://idp.example:0/t', $loc), qr/OBOTokenEndpoint: .* with a host/],
        ['OBOJWKSURL with a space in its host', join("\n", $md->('cfa'), $aud,
         'OBOJWKSURL "https://exa mple/keys" https://x.example/', $loc),
         qr/OBOJWKSURL: .* with a host/],
        # review 13B: the only provider, a key set with its issuer on the
        # line, exchanging: only a warning, then every exchange failed
        ['the only provider has no token endpoint', join("\n",
         "OBOJWKSFile $pki/jwks-static.json https://static.example.test/issc", $aud,
         'OBOClientID middle-tier-api', 'OBOClientSecret s3cret-for-tests',
         "<Location /api>\n AuthType obo\n Require valid-user\n"
         . " OBOScope api://downstream/.default\n</Location>"),
         qr/OBO040: OBOScope\/OBOPassToken need a token endpoint/],
    );
    # OBO475: an issuer a discovery URL derives, claimed by another provider
    for my $case (['two discovery URLs of one path', join("\n", $md->('cfa'), $md->('cfa') . '?p=B2C_1_other'),
                   qr/OBO475: the discovery URL \S*cfa\S*\?\.\.\. \(\S+:\d+\) names the issuer https:\/\/127\.0\.0\.1:\d+\/cfa\/v2\.0, which .*cfa\/v2\.0\/\.well-known\/openid-configuration \(\S+:\d+\) is configured for too/],
                  ['a written issuer equal to a derived one', join("\n", $md->('cfa'),
                   "OBOJWKSFile $pki/jwks-static.json https://127.0.0.1:$port/cfb/v2.0", $md->('cfb')),
                   qr/OBO475: the discovery URL .*cfb.* names the issuer https:\/\/127\.0\.0\.1:\d+\/cfb\/v2\.0, which .*jwks-static\.json \(\S+:\d+\) is configured for too/]) {
        my $w = check_config(join("\n", $case->[1], $aud, $loc));
        ok $w->{syntax_ok}, "$case->[0]: configtest passes" or diag $w->{output};
        like $w->{output}, $case->[2], "$case->[0]: OBO475" or diag $w->{output};
    }
    # review 40B-F4: two B2C policies of one path, each with its issuer
    # written: no OBO475 (their tokens select them by it); without: the
    # two URLs, alike without their query, are told apart by their lines
    {
        my $b2c = $md->('b2c') . '?p=B2C_1_';
        my $w = check_config(join("\n", $md->('wf'), "${b2c}a https://127.0.0.1:$port/pa/v2.0/",
                                  "${b2c}b https://127.0.0.1:$port/pb/v2.0/", $aud, $loc));
        ok $w->{syntax_ok}, 'two B2C policies with written issuers: configtest passes'
            or diag $w->{output};
        unlike $w->{output}, qr/OBO475/, '... and no OBO475' or diag $w->{output};
        $w = check_config(join("\n", $md->('wf'), "${b2c}a", "${b2c}b", $aud, $loc));
        my ($one, $two) = $w->{output} =~ /OBO475: the discovery URL \S+ \(\S+:(\d+)\) names the issuer \S+, which \S+ \(\S+:(\d+)\)/;
        ok $one && $two && $one != $two, 'without: OBO475 names the two lines apart'
            or diag $w->{output};
    }
    # review 39B-F4, 39A-F5: OBOAcceptIssuer values no provider is configured for
    for my $case (
        ['a typo', join("\n", $md->('cfa'), $aud, "<Location /api>\n AuthType obo\n Require valid-user\n"
                        . " OBOAcceptIssuer https://127.0.0.1:$port/cfa/v2.0X\n</Location>"),
         qr/OBO478: OBOAcceptIssuer https:\/\/127\.0\.0\.1:\d+\/cfa\/v2\.0X \(<Location \/api>, [^)]*\) names no issuer an identity provider of this server is configured for/],
        ['a final / the tokens do not have', join("\n", $md->('cfa'), $aud, "<Location /api>\n AuthType obo\n"
                        . " Require valid-user\n OBOAcceptIssuer https://127.0.0.1:$port/cfa/v2.0/\n</Location>"),
         qr/OBO478: OBOAcceptIssuer https:\/\/127\.0\.0\.1:\d+\/cfa\/v2\.0\/ /],
        ['a server-level value inherited by a host with its own providers', join("\n", $md->('cfa'), $md->('cfb'),
                        $aud, "OBOAcceptIssuer https://127.0.0.1:$port/cfb/v2.0", $loc,
                        "<VirtualHost 127.0.0.1:1>\n " . $md->('cfc') . "\n</VirtualHost>"),
         qr/OBO478: OBOAcceptIssuer https:\/\/127\.0\.0\.1:\d+\/cfb\/v2\.0 \(server, [^)]*\), inherited by virtual host [^,]*, names no issuer an identity provider of that host is configured for/]) {
        my $w = check_config($case->[1]);
        ok $w->{syntax_ok}, "$case->[0]: configtest passes" or diag $w->{output};
        like $w->{output}, $case->[2], "$case->[0]: OBO478" or diag $w->{output};
    }
    # review 40B-F1: an issuer-less key line beside discovery replaces its keys
    # (an unquoted empty ${PARTNER_ISS} leaves no word): said
    my $o = check_config(join("\n", $md->('cfa'), "OBOJWKSFile $pki/jwks-static.json", $aud, $loc));
    ok $o->{syntax_ok}, 'an issuer-less OBOJWKSFile beside OBOMetadataURL: configtest passes'
        or diag $o->{output};
    like $o->{output}, qr/OBO479: the primary provider's keys come from \S*jwks-static\.json, not from the jwks_uri of its discovery document/,
         '... with OBO479' or diag $o->{output};
    # review 39B-F2: OBOIssuer where no provider is the primary
    my $u = check_config(join("\n", "OBOJWKSFile $pki/jwks-static.json https://static.example/",
                              'OBOIssuer https://other.example/', $aud, $loc));
    ok $u->{syntax_ok}, 'OBOIssuer without a primary provider: configtest passes' or diag $u->{output};
    like $u->{output}, qr/OBO476: OBOIssuer https:\/\/other\.example\/ applies to no identity provider/,
         '... with OBO476' or diag $u->{output};
    my $c = check_config(join("\n", $md->('cfa'), $md->('cfb'),
        'OBOJWKSURL https://127.0.0.1:1/keys https://static.example/', $aud,
        'OBOClientID middle-tier-api', 'OBOClientSecret s3cret-for-tests',
        "<Location /api>\n AuthType obo\n Require valid-user\n OBOScope api://downstream/.default\n"
        . " OBOAcceptIssuer https://127.0.0.1:$port/cfa/v2.0\n</Location>"));
    ok $c->{syntax_ok}, 'three providers, an exchanging Location: configtest passes' or diag $c->{output};
    like $c->{output}, qr/OBO472: the identity provider of https:\/\/127\.0\.0\.1:1\/keys \(issuer https:\/\/static\.example\/\) has no discovery document/,
         'OBO472 for the provider without a token endpoint';
    unlike $c->{output}, qr/OBO475/, 'no OBO475 where every provider claims its own issuer';
    unlike $c->{output}, qr/OBO478/, 'no OBO478 for an OBOAcceptIssuer a discovery URL names';
};

done_testing();
