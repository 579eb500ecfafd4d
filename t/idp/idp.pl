#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Test identity provider for the mod_auth_obo suite: an Entra-ID-like OpenID
# provider and token endpoint (OBO jwt-bearer + RFC 8693 token exchange),
# with counters and fault switches driven over HTTP by the tests.
#
#   t/idp/idp.pl [--port N] [--state-dir DIR] [--pki-dir DIR] [--log FILE]
#                [--pid-file FILE] [--lifetime SECONDS]
#
# Forking HTTPS server on 127.0.0.1 (TLS handshake done in the child).
# State shared by the children lives in DIR/state.json under flock.
# See t/README.md for the endpoints and the switches.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Getopt::Long;
use POSIX qw(strftime :sys_wait_h);
use Fcntl qw(:flock O_RDWR O_CREAT);
use IO::Select;
use IO::Socket::SSL;
use HTTP::Daemon;
use HTTP::Response;
use HTTP::Headers;
use URI;
use URI::Escape qw(uri_unescape);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep);
use Time::HiRes ();
use Socket ();
use Crypt::JWT qw(encode_jwt decode_jwt);
use Crypt::PK::RSA;
use Crypt::Misc qw(decode_b64u);
use Crypt::PRNG qw(random_string random_bytes_hex);
use OBOTest::Keys qw(key_info published_kids jwks public_jwk cert_thumbprint pki_dir);

my %opt = (
    port      => $ENV{OBO_TEST_IDP_PORT} || 19443,
    'state-dir' => undef,
    'pki-dir' => undef,
    log       => undef,
    'pid-file' => undef,
    lifetime  => $ENV{OBO_TEST_IDP_LIFETIME} || 3600,
);
GetOptions(\%opt, 'port=i', 'state-dir=s', 'pki-dir=s', 'log=s', 'pid-file=s', 'lifetime=i')
    or die "usage: $0 [--port N] [--state-dir DIR] [--pki-dir DIR] [--log FILE] [--pid-file F] [--lifetime S]\n";

$ENV{OBO_TEST_PKI_DIR} = $opt{'pki-dir'} if $opt{'pki-dir'};
my $PKI   = pki_dir();
my $PORT  = $opt{port};
my $BASE  = "https://127.0.0.1:$PORT";
my $STATE = $opt{'state-dir'} || "$FindBin::Bin/../run/idp";
mkdir $STATE unless -d $STATE;
-d $STATE or die "idp: cannot create state dir $STATE\n";

our $CLIENT_ID     = 'middle-tier-api';
our $CLIENT_SECRET = 's3cret-for-tests';
# A second application that only calls as itself (client credentials): the
# tests' source of real app-only caller tokens (t/18_app_callers.t).
our $DAEMON_ID     = 'daemon-app';
our $DAEMON_SECRET = 'daemon-s3cret-for-tests';
my $TE_GRANT  = 'urn:ietf:params:oauth:grant-type:token-exchange';
my $OBO_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
my $AT_TYPE   = 'urn:ietf:params:oauth:token-type:access_token';
my $JWT_TYPE  = 'urn:ietf:params:oauth:token-type:jwt';
my $CA_TYPE   = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
# JSON::XS when installed (the suite's packages have it): every call reads
# and rewrites the state document, which JSON::PP made most of an exchange's
# time. The same canonical UTF-8 JSON either way.
my $JSON = (eval { require JSON::XS; JSON::XS->new } || JSON::PP->new)->canonical->utf8;

my $logfh;
if ($opt{log}) {
    open $logfh, '>>', $opt{log} or die "idp: $opt{log}: $!\n";
    $logfh->autoflush(1);
}
sub logmsg {
    return unless $logfh;
    my $t = strftime('%H:%M:%S', localtime);
    print $logfh "[$t] [$$] @_\n";
}

# ---------------------------------------------------------------- state --
# One JSON document, read-modify-written under an exclusive flock so that
# the forked children agree on counters, switches and seen jtis.
sub with_state {
    my ($cb) = @_;
    my $file = "$STATE/state.json";
    sysopen(my $fh, $file, O_RDWR | O_CREAT, 0644) or die "idp: $file: $!";
    flock($fh, LOCK_EX) or die "idp: flock: $!";
    local $/;
    my $raw = <$fh>;
    my $st = (defined $raw && length $raw) ? eval { $JSON->decode($raw) } : undef;
    $st ||= {};
    $st->{$_} ||= {} for qw(counters switches jtis);
    $st->{last} ||= [];
    $st->{seq}  ||= 0;
    my @ret = $cb->($st);
    my $out = $JSON->encode($st);
    seek $fh, 0, 0;
    truncate $fh, 0;
    print {$fh} $out;
    close $fh;    # releases the lock
    return wantarray ? @ret : $ret[0];
}

sub bump {
    my (@names) = @_;
    with_state(sub { $_[0]{counters}{$_}++ for @names; return });
}

# switch lookup: "name@tenant" overrides "name"
sub switches_now { return with_state(sub { +{ %{ $_[0]{switches} } } }) }
sub sw {
    my ($sw, $name, $tenant) = @_;
    return $sw->{"$name\@$tenant"} if defined $tenant && defined $sw->{"$name\@$tenant"};
    return $sw->{$name};
}

sub down_until {
    open my $fh, '<', "$STATE/down_until" or return 0;
    my $v = <$fh>;
    return ($v // 0) + 0;
}

# -------------------------------------------------------------- helpers --
sub json_response {
    my ($code, $data, @hdr) = @_;
    my $r = HTTP::Response->new($code);
    $r->header('Content-Type' => 'application/json; charset=utf-8');
    $r->header('Cache-Control' => 'no-store');
    $r->header(@hdr) if @hdr;
    $r->content(ref $data ? $JSON->encode($data) : $data);
    return $r;
}

sub uuid {
    my $h = random_bytes_hex(16);
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
        substr($h, 16, 4), substr($h, 20, 12);
}

# Entra-style error body
sub entra_error {
    my ($status, $error, $code, $desc, %extra) = @_;
    my $ts = strftime('%Y-%m-%d %H:%M:%SZ', gmtime);
    my ($trace, $corr) = (uuid(), uuid());
    my $body = {
        error             => $error,
        error_description => "AADSTS$code: $desc\r\nTrace ID: $trace\r\nCorrelation ID: $corr\r\nTimestamp: $ts",
        error_codes       => [ $code + 0 ],
        timestamp         => $ts,
        trace_id          => $trace,
        correlation_id    => $corr,
        error_uri         => "$BASE/error?code=$code",
        %extra,
    };
    my @hdr;
    push @hdr, 'WWW-Authenticate' => 'Basic realm="test-idp"' if $status == 401;
    return json_response($status, $body, @hdr);
}

sub issuer_for { my ($tenant) = @_; return "$BASE/$tenant/v2.0" }

sub parse_form {
    my ($content) = @_;
    my %p;
    for my $pair (split /&/, $content // '') {
        next unless length $pair;
        my ($k, $v) = split /=/, $pair, 2;
        $v //= '';
        tr/+/ / for $k, $v;
        $k = uri_unescape($k);
        $v = uri_unescape($v);
        $p{$k} = exists $p{$k} ? "$p{$k}\0$v" : $v;   # duplicates kept visible
    }
    return \%p;
}

# A second identity provider (t/36_issuers.t): the tenants named second*
# sign with key B but publish it under key A's kid "rsa-a", so that two
# issuers have a colliding kid with different keys.
sub second_issuer { my ($tenant) = @_; return defined $tenant && $tenant =~ /^second/ }
sub second_jwks {
    return { keys => [ { %{ public_jwk('rsa-b') }, kid => 'rsa-a' } ] };
}

sub all_keys_for_verification {
    my ($tenant) = @_;
    return ('rsa-a' => key_info('rsa-b')->{pub}) if second_issuer($tenant);
    # the IdP trusts every key it ever published (A and B)
    return map { $_ => key_info($_)->{pub} } published_kids('both');
}

# verify a user token (OBO assertion / RFC 8693 subject_token) with the keys
# of the tenant whose token endpoint was called
sub verify_user_token {
    my ($tok, $tenant) = @_;
    my %keys = all_keys_for_verification($tenant);
    my @parts = split /\./, $tok, -1;
    return (undef, 50013, 'Assertion is malformed.') unless @parts == 3;
    my $hdr = eval { $JSON->decode(decode_b64u($parts[0])) };
    return (undef, 50013, 'Assertion is malformed.') unless ref $hdr eq 'HASH';
    my @cand = defined $hdr->{kid} ? ($keys{ $hdr->{kid} } // ()) : values %keys;
    return (undef, 50013, 'Assertion failed signature validation. [Reason - The key was not found.]')
        unless @cand;
    my ($claims, $err);
    for my $k (@cand) {
        $claims = eval {
            decode_jwt(token => $tok, key => $k, verify_exp => 0, verify_nbf => 0,
                       accepted_alg => qr/^(RS|PS|ES)(256|384|512)$|^EdDSA$/);
        };
        $err = $@;
        last if $claims;
    }
    return (undef, 50013, 'Assertion failed signature validation.') unless ref $claims eq 'HASH';
    my $now = time;
    return (undef, 500133, 'Assertion is not within its valid time range.')
        if !defined $claims->{exp} || $claims->{exp} + 60 < $now
        || (defined $claims->{nbf} && $claims->{nbf} - 60 > $now);
    return ($claims);
}

sub scope_resource {
    my ($scope) = @_;
    my ($first) = split ' ', $scope // '';
    return undef unless defined $first;
    return $1 if $first =~ m{^(.+://.+)/[^/]+$};
    return $1 if $first =~ m{^([0-9a-f-]{36})/[^/]+$};
    return undef;
}

sub scope_names {
    my ($scope) = @_;
    return join ' ', map { m{/([^/]+)$} ? $1 : $_ } split ' ', $scope // '';
}

# ------------------------------------------------------ client auth -----
# returns (method) or (undef, error response)
sub client_auth {
    my ($req, $p, $tenant, $sw) = @_;
    my @methods;
    my ($id, $secret);
    my $authz = $req->header('Authorization');
    if (defined $authz && $authz =~ /^\s*Basic\s+(\S+)\s*$/i) {
        my $dec = decode_base64($1);
        my ($i, $s) = split /:/, $dec, 2;
        ($id, $secret) = (uri_unescape($i // ''), uri_unescape($s // ''));
        push @methods, 'client_secret_basic';
    }
    if (defined $p->{client_secret}) {
        push @methods, 'client_secret_post';
        ($id, $secret) = ($p->{client_id}, $p->{client_secret});
    }
    if (defined $p->{client_assertion} || defined $p->{client_assertion_type}) {
        push @methods, 'private_key_jwt';
    }
    return (undef, entra_error(401, 'invalid_client', 7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."))
        unless @methods;
    return (undef, entra_error(400, 'invalid_request', 90014,
        'Only one client authentication method may be used; got ' . join(', ', @methods) . '.'))
        if @methods > 1;
    my $method = $methods[0];
    my $want_id = sw($sw, 'client_id', $tenant) // $CLIENT_ID;
    my $daemon = ($p->{grant_type} // '') eq 'client_credentials' && defined $id
        && $id eq $DAEMON_ID && $method ne 'private_key_jwt';
    $want_id = $DAEMON_ID if $daemon;
    if (my $only = sw($sw, 'require_client_auth', $tenant)) {
        return (undef, entra_error(401, 'invalid_client', 7000218,
            "The client must authenticate with $only (used $method)."))
            unless $only eq $method;
    }

    if ($method eq 'private_key_jwt') {
        my $r = check_client_assertion($p, $tenant, $want_id);
        return (undef, $r) if ref $r;
        $method .= ":$r";    # alg
    }
    else {
        return (undef, entra_error(401, 'invalid_client', 700016,
            "Application with identifier '" . ($id // '') . "' was not found in the directory 'tenant'."))
            unless defined $id && $id eq $want_id;
        return (undef, entra_error(400, 'invalid_request', 900023,
            'client_id in the body does not match the authenticated client.'))
            if defined $p->{client_id} && $p->{client_id} ne $id;
        my @ok = $daemon ? ($DAEMON_SECRET) : ($CLIENT_SECRET);
        push @ok, $sw->{client_secret} if defined $sw->{client_secret} && !$daemon;
        return (undef, entra_error(401, 'invalid_client', 7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '$want_id'."))
            unless defined $secret && grep { $_ eq $secret } @ok;
    }
    return ($method, undef, $want_id);
}

sub check_client_assertion {
    my ($p, $tenant, $want_id) = @_;
    my $bad = sub { entra_error(401, 'invalid_client', $_[0], $_[1]) };
    return $bad->(700025, "client_assertion_type must be '$CA_TYPE'.")
        unless ($p->{client_assertion_type} // '') eq $CA_TYPE;
    my $tok = $p->{client_assertion} // '';
    my @parts = split /\./, $tok, -1;
    return $bad->(700027, 'Client assertion is malformed.') unless @parts == 3;
    my $hdr = eval { $JSON->decode(decode_b64u($parts[0])) };
    return $bad->(700027, 'Client assertion header is not JSON.') unless ref $hdr eq 'HASH';
    my $alg = $hdr->{alg} // '';
    return $bad->(700027, "Client assertion alg '$alg' is not supported.")
        unless $alg =~ /^(RS|PS)(256|384|512)$/;
    my $cert = "$PKI/client.pem";
    if ($alg =~ /^PS/) {
        return $bad->(700027, 'Client assertion must carry x5t#S256 for PS* algorithms.')
            unless defined $hdr->{'x5t#S256'};
    }
    else {
        return $bad->(700027, 'Client assertion must carry x5t or x5t#S256.')
            unless defined $hdr->{x5t} || defined $hdr->{'x5t#S256'};
    }
    return $bad->(700027, 'Client assertion x5t#S256 does not match a registered certificate.')
        if defined $hdr->{'x5t#S256'} && $hdr->{'x5t#S256'} ne cert_thumbprint($cert, 'S256');
    return $bad->(700027, 'Client assertion x5t does not match a registered certificate.')
        if defined $hdr->{x5t} && $hdr->{x5t} ne cert_thumbprint($cert, 'SHA1');
    my $pub = Crypt::PK::RSA->new("$PKI/client.pub.pem");
    my $c = eval { decode_jwt(token => $tok, key => $pub, verify_exp => 0, verify_nbf => 0,
                              accepted_alg => $alg) };
    return $bad->(700027, 'Client assertion failed signature validation.') unless ref $c eq 'HASH';
    my $now = time;
    my $aud_ok = "$BASE/$tenant/oauth2/v2.0/token";
    my @aud = ref $c->{aud} eq 'ARRAY' ? @{ $c->{aud} } : ($c->{aud} // ());
    return $bad->(700021, "Client assertion audience claim does not match Realm issuer. Expected '$aud_ok'.")
        unless grep { $_ eq $aud_ok } @aud;
    return $bad->(700023, "Client assertion issuer is not '$want_id'.")
        unless ($c->{iss} // '') eq $want_id;
    return $bad->(700023, "Client assertion subject is not '$want_id'.")
        unless ($c->{sub} // '') eq $want_id;
    return $bad->(700024, 'Client assertion is not within its valid time range (exp missing).')
        unless defined $c->{exp} && $c->{exp} =~ /^\d+$/;
    return $bad->(700024, 'Client assertion is not within its valid time range (expired).')
        if $c->{exp} < $now - 5;
    return $bad->(700024, 'Client assertion lifetime is too long (exp more than 15 minutes ahead).')
        if $c->{exp} > $now + 900;
    return $bad->(700024, 'Client assertion is not yet valid.')
        if defined $c->{nbf} && $c->{nbf} > $now + 60;
    return $bad->(700022, 'Client assertion contains no jti.')
        unless defined $c->{jti} && length $c->{jti};
    return $bad->(700022, 'client_id does not match the assertion issuer.')
        if defined $p->{client_id} && $p->{client_id} ne $want_id;
    my $replayed = with_state(sub {
        my $j = $_[0]{jtis};
        delete $j->{$_} for grep { $j->{$_} < $now - 120 } keys %$j;
        return 1 if exists $j->{ $c->{jti} };
        $j->{ $c->{jti} } = $c->{exp};
        return 0;
    });
    return $bad->(700022, 'The provided client assertion jti has already been used (replay).')
        if $replayed;
    return $alg;
}

# ------------------------------------------------------------ handlers ---
sub h_discovery {
    my ($tenant, $sw) = @_;
    bump('discovery', "discovery\@$tenant");
    my $fault = sw($sw, 'discovery_fault', $tenant) // '';
    return undef if $fault eq 'down';
    return json_response(500, { error => 'server_error' }) if $fault eq '500';
    return json_response(200, '{"issuer": "' . issuer_for($tenant)) if $fault eq 'badjson';
    sleep(sw($sw, 'slow_seconds', $tenant) // 3) if $fault eq 'slow';
    my $iss = ($tenant eq 'common' || $tenant eq 'organizations' || $tenant eq 'consumers')
        ? "$BASE/{tenantid}/v2.0" : issuer_for($tenant);
    $iss = issuer_for('someone-else') if $fault eq 'wrong_issuer';
    # a hostile or compromised IdP naming another tenant's issuer (review 37C-F7)
    $iss = issuer_for($1) if $fault =~ /^issuer_of:([\w-]+)$/;
    $iss = $1 if $fault =~ /^raw_issuer:([\w.-]+)$/;    # not a URL (review 38G-F2)
    # an https URL with a line break and a header after it (review 39A-F6)
    $iss = "https://evil.example/x\r\nX-Injected: 1" if $fault eq 'crlf_issuer';
    my $doc = {
        issuer                 => $iss,
        authorization_endpoint => "$BASE/$tenant/oauth2/v2.0/authorize",
        token_endpoint         => "$BASE/$tenant/oauth2/v2.0/token",
        introspection_endpoint => "$BASE/$tenant/oauth2/v2.0/introspect",
        device_authorization_endpoint => "$BASE/$tenant/oauth2/v2.0/devicecode",
        end_session_endpoint   => "$BASE/$tenant/oauth2/v2.0/logout",
        userinfo_endpoint      => "$BASE/oidc/userinfo",
        jwks_uri               => "$BASE/$tenant/discovery/v2.0/keys",
        token_endpoint_auth_methods_supported => [qw(client_secret_post private_key_jwt client_secret_basic)],
        response_modes_supported => [qw(query fragment form_post)],
        subject_types_supported  => ['pairwise'],
        id_token_signing_alg_values_supported => ['RS256'],
        response_types_supported => ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported       => [qw(openid profile email offline_access)],
        request_uri_parameter_supported => JSON::PP::false,
        http_logout_supported  => JSON::PP::true,
        frontchannel_logout_supported => JSON::PP::true,
        claims_supported       => [qw(sub iss cloud_instance_name cloud_instance_host_name cloud_graph_host_name
                                      msgraph_host aud exp iat auth_time acr nonce preferred_username name tid
                                      ver at_hash c_hash email)],
        tenant_region_scope    => 'EU',
        cloud_instance_name    => '127.0.0.1',
        cloud_graph_host_name  => 'graph.windows.net',
        msgraph_host           => 'graph.microsoft.com',
    };
    delete $doc->{jwks_uri} if $fault eq 'no_jwks_uri';
    $doc->{jwks_uri} =~ s{^https:}{http:} if $fault eq 'http_jwks';              # t/30_https.t
    $doc->{token_endpoint} =~ s{^https:}{http:} if $fault eq 'http_token_endpoint';
    $doc->{jwks_uri} =~ s{^https://}{https://u:DISCOPASSWORD\@} if $fault eq 'userinfo_jwks';
    delete $doc->{introspection_endpoint} if $fault eq 'no_introspection_endpoint';   # t/34
    # another tenant's token endpoint, through another host name (review 40A-F4)
    if ($fault =~ /^token_endpoint_of:([\w-]+)\@([\w.-]+)$/) {
        my ($of, $host) = ($1, $2);
        (my $other = $BASE) =~ s{^https://[^/:]+}{https://$host};
        $doc->{token_endpoint} = "$other/$of/oauth2/v2.0/token";
    }
    return json_response(200, $doc);
}

sub h_jwks {
    my ($tenant, $sw) = @_;
    bump('jwks', "jwks\@$tenant");
    my $fault = sw($sw, 'jwks_fault', $tenant) // '';
    return undef if $fault eq 'down';
    return json_response(500, { error => 'server_error' }) if $fault eq '500';
    return json_response(200, '{"keys": [ {"kty": "RSA"') if $fault eq 'badjson';
    return json_response(200, { keys => [] }) if $fault eq 'empty';
    sleep(sw($sw, 'slow_seconds', $tenant) // 3) if $fault eq 'slow';
    return json_response(200, second_jwks()) if second_issuer($tenant);
    my $rot = sw($sw, 'rotate', $tenant) // 0;
    return json_response(200, jwks(published_kids($rot)));
}

sub h_evil {
    my ($what) = @_;
    bump('evil', "evil:$what");
    if ($what eq 'keys') {
        my $j = public_jwk('foreign');
        return json_response(200, { keys => [ $j, { %$j, kid => 'rsa-a' } ] });
    }
    if ($what eq 'foreign.pem' && open my $fh, '<', "$PKI/foreign.pem") {
        local $/;
        my $r = HTTP::Response->new(200);
        $r->header('Content-Type' => 'application/x-pem-file');
        $r->content(scalar <$fh>);
        return $r;
    }
    return json_response(404, { error => 'not_found' });
}

sub apply_token_fault {
    my ($fault, $tenant, $sw) = @_;
    if ($fault eq 'slow') {
        sleep(sw($sw, 'slow_seconds', $tenant) // 3);
        return;
    }
    if ($fault eq 'hang') {
        sleep(sw($sw, 'hang_seconds', $tenant) // 60);
        return 'close';
    }
    return entra_error(400, 'invalid_grant', 65001,
        "The user or administrator has not consented to use the application with ID '$CLIENT_ID' named 'middle-tier-api'. Send an interactive authorization request for this user and resource.",
        suberror => 'consent_required')
        if $fault eq 'consent_required';
    return entra_error(400, 'interaction_required', 50076,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'api://downstream'.",
        claims => '{"access_token":{"capolids":{"essential":true,"values":["c0ffee00-0000-4000-8000-000000000001"]}}}',
        suberror => 'basic_action')
        if $fault eq 'interaction_required';
    return entra_error(400, 'invalid_grant', 50013,
        'Assertion failed signature validation. [Reason - The key was not found.]')
        if $fault eq 'invalid_grant';
    return entra_error(401, 'invalid_client', 7000215,
        'Invalid client secret provided.')
        if $fault eq 'invalid_client';
    return entra_error(500, 'server_error', 90033,
        'A transient error has occurred. Please try again.')
        if $fault eq '500';
    # retry_after=N: the Retry-After these two send (default 1)
    my $ra = sw($sw, 'retry_after', $tenant) // 1;
    return entra_error(503, 'temporarily_unavailable', 90033,
        'The service is temporarily unavailable.', )->tap_header('Retry-After' => $ra)
        if $fault eq '503_retry_after';
    return entra_error(429, 'temporarily_unavailable', 50196,
        'The server terminated an operation because it encountered a client request loop.')->tap_header('Retry-After' => $ra)
        if $fault eq '429';
    if ($fault eq 'badjson') {
        return json_response(200, '{"token_type":"Bearer","access_token":"eyJ');
    }
    if ($fault eq 'html') {
        my $r = HTTP::Response->new(502);
        $r->header('Content-Type' => 'text/html');
        $r->content("<html><body>Bad Gateway</body></html>\n");
        return $r;
    }
    return;
}
sub HTTP::Response::tap_header { my ($r, @h) = @_; $r->header(@h); return $r }

sub h_token {
    my ($tenant, $req, $sw) = @_;
    my $p = parse_form($req->content);
    my $grant = $p->{grant_type} // '';
    my $user_tok = $grant eq $OBO_GRANT ? $p->{assertion} : $p->{subject_token};
    my $scope = $p->{scope};
    my $scope_key = defined $scope ? $scope : defined $p->{audience} ? "audience=$p->{audience}" : '';

    # peek (unverified) at the user's sub for the per-user counter
    my $sub = '-';
    if (defined $user_tok && $user_tok =~ /^[^.]+\.([^.]+)\./) {
        my $c = eval { $JSON->decode(decode_b64u($1)) };
        $sub = $c->{sub} if ref $c eq 'HASH' && defined $c->{sub};
    }

    if (my $o = opaque_record($user_tok)) {
        $sub = $o->{sub} if defined $o->{sub};
    }
    my ($seq, $fault) = with_state(sub {
        my $st = $_[0];
        # refresh_token grant: the user is the one its refresh token was issued to
        $sub = $st->{rts}{ $p->{refresh_token} }{sub} // '-'
            if $grant eq 'refresh_token' && defined $p->{refresh_token};
        $st->{counters}{$_}++ for 'token', "token\@$tenant", "token:$sub:$scope_key",
            "grant:$grant", "grant:$grant:$sub";
        my %rec = (time => time, tenant => $tenant, params => $p,
                   authorization => scalar $req->header('Authorization'),
                   content_type => scalar $req->header('Content-Type'));
        push @{ $st->{last} }, \%rec;
        shift @{ $st->{last} } while @{ $st->{last} } > 50;
        my $f = sw($st->{switches}, 'token_fault', $tenant);
        # token_fault_scope: the fault only for requests whose scope holds it
        my $fs = sw($st->{switches}, 'token_fault_scope', $tenant);
        $f = undef if defined $f && defined $fs && length $fs && index($scope_key, $fs) < 0;
        if (defined $f) {
            my $tk = exists $st->{switches}{"token_fault_times\@$tenant"} ? "token_fault_times\@$tenant"
                   : 'token_fault_times';
            if (defined $st->{switches}{$tk}) {
                if (--$st->{switches}{$tk} <= 0) {
                    delete $st->{switches}{$tk};
                    delete $st->{switches}{ exists $st->{switches}{"token_fault\@$tenant"}
                                            ? "token_fault\@$tenant" : 'token_fault' };
                }
            }
        }
        return (++$st->{seq}, $f);
    });

    if (defined $fault && length $fault) {
        bump('token_fault', "token_fault:$fault");
        my $r = apply_token_fault($fault, $tenant, $sw);
        return undef if defined $r && !ref $r;    # close
        return $r if ref $r;
    }

    my ($method, $err, $client) = client_auth($req, $p, $tenant, $sw);
    if (!$method) { bump('token_error', 'token_error:invalid_client'); return $err }
    bump("auth:$method");

    return h_refresh($tenant, $p, $sw, $seq, $method) if $grant eq 'refresh_token';
    return h_client_credentials($tenant, $p, $sw, $seq, $client) if $grant eq 'client_credentials';

    my $missing = sub { entra_error(400, 'invalid_request', 900144,
        "The request body must contain the following parameter: '$_[0]'.") };
    my ($claims, $code, $desc);
    my $is_te = 0;
    if ($grant eq $OBO_GRANT) {
        return $missing->('assertion') unless defined $p->{assertion};
        return $missing->('requested_token_use') unless defined $p->{requested_token_use};
        return entra_error(400, 'invalid_request', 90010,
            "The grant type is not supported over the /common or /consumers endpoints; requested_token_use must be 'on_behalf_of'.")
            unless $p->{requested_token_use} eq 'on_behalf_of';
        return $missing->('scope') unless defined $scope && length $scope;
        ($claims, $code, $desc) = verify_user_token($p->{assertion}, $tenant);
    }
    elsif ($grant eq $TE_GRANT) {
        $is_te = 1;
        return $missing->('subject_token') unless defined $p->{subject_token};
        return $missing->('subject_token_type') unless defined $p->{subject_token_type};
        return entra_error(400, 'invalid_request', 9002313,
            "Unsupported subject_token_type '$p->{subject_token_type}'.")
            unless $p->{subject_token_type} eq $AT_TYPE || $p->{subject_token_type} eq $JWT_TYPE;
        return entra_error(400, 'invalid_request', 9002313,
            "Unsupported requested_token_type '$p->{requested_token_type}'.")
            if defined $p->{requested_token_type}
            && $p->{requested_token_type} ne $AT_TYPE && $p->{requested_token_type} ne $JWT_TYPE;
        return $missing->('scope or audience')
            unless (defined $scope && length $scope) || (defined $p->{audience} && length $p->{audience});
        # an opaque token this IdP issued (/control/opaque) is an access
        # token too, while active (t/34_introspection.t)
        my $o = opaque_record($p->{subject_token});
        ($claims, $code, $desc) = $o
            ? (opaque_active($o) ? ($o) : (undef, 50013, 'The subject token is not active.'))
            : verify_user_token($p->{subject_token}, $tenant);
    }
    else {
        bump('token_error', 'token_error:unsupported_grant_type');
        return entra_error(400, 'unsupported_grant_type', 70003,
            "The app requested an unsupported grant type '$grant'.");
    }
    if (!$claims) {
        bump('token_error', 'token_error:invalid_grant');
        return entra_error(400, 'invalid_grant', $code, $desc);
    }

    my $now = time;
    my $exp_in = sw($sw, 'expires_in', $tenant) // 3600;
    my $aud = $is_te && defined $p->{audience} ? $p->{audience} : scope_resource($scope) // 'api://downstream';
    my $tid = $claims->{tid} // $tenant;
    my $rot = sw($sw, 'rotate', $tenant) // 0;
    my $kid = $rot && $rot ne 'both' ? 'rsa-b' : 'rsa-a';
    my $jti = "obo-$seq-" . random_string(12);
    my $at = encode_jwt(
        alg => 'RS256', key => key_info($kid)->{priv},
        extra_headers => { kid => $kid, typ => 'JWT' },
        payload => {
            iss => issuer_for($tid), aud => $aud, sub => $claims->{sub},
            (defined $claims->{oid} ? (oid => $claims->{oid}) : ()),
            tid => $tid, iat => $now, nbf => $now, exp => $now + $exp_in,
            azp => $CLIENT_ID, azpacr => ($method =~ /^private_key_jwt/ ? '2' : '1'),
            scp => scope_names($scope // ''), ver => '2.0', jti => $jti, uti => $jti,
            obo_seq => $seq, obo_grant => ($is_te ? 'token-exchange' : 'on-behalf-of'),
            act => { sub => $CLIENT_ID },
        },
    );
    # token_type=..., access_token_suffix=...: what a broken or hostile IdP
    # could return (t/21_edge_values.t)
    my %body = (
        token_type     => sw($sw, 'token_type', $tenant) // 'Bearer',
        access_token   => $at . (sw($sw, 'access_token_suffix', $tenant) // ''),
        expires_in     => $exp_in + 0,
        ext_expires_in => $exp_in + 0,
        scope          => $scope // scope_names($p->{audience} // ''),
    );
    # RFC 8693 s.2.2.1: the type of the token issued, the one asked for
    $body{issued_token_type} = $p->{requested_token_type} // $AT_TYPE if $is_te;
    # omit_expires_in=1: no lifetime in the answer (RFC 6749 only recommends
    # it; t/84_long_running_faults.t)
    delete @body{qw(expires_in ext_expires_in)} if sw($sw, 'omit_expires_in', $tenant);
    # refresh_in=N: MSAL's early-refresh advice (t/96_refresh.t)
    my $rin = sw($sw, 'refresh_in', $tenant);
    $body{refresh_in} = $rin + 0 if defined $rin && length $rin;
    # offline_access (OBOLongRunning) or the refresh_token switch: a refresh
    # token; with token exchange only if te_refresh_token is set (RFC 8693
    # IdPs often issue none)
    my $offline = grep { $_ eq 'offline_access' } split ' ', $scope // '';
    $body{refresh_token} = issue_rt($seq, $claims, $tid, $scope // '', undef, $sw, $tenant)
        if ($is_te ? sw($sw, 'te_refresh_token', $tenant)
                   : ($offline || sw($sw, 'refresh_token', $tenant)));
    bump('token_ok', "token_ok\@$tenant");
    return json_response(200, \%body);
}

# --------------------------------------------- client credentials --------
# RFC 6749 s.4.4 as Entra answers it: only at a tenant (not /common,
# /organizations, /consumers), exactly one scope <resource>/.default, and an
# app-only token: idtyp app, roles, oid = sub (the service principal), no
# scp. Counted per client and scope: cc:CLIENT:SCOPE (and cc@TENANT).
# Switches: cc_roles (space-separated, default Data.Read.All), expires_in,
# refresh_in, token_type, access_token_suffix, omit_expires_in as above.
sub h_client_credentials {
    my ($tenant, $p, $sw, $seq, $client) = @_;
    my $scope = $p->{scope} // '';
    bump('cc', "cc\@$tenant", "cc:$client", "cc:$client:$scope");
    if ($tenant =~ /^(?:common|organizations|consumers)$/) {
        bump('token_error', 'token_error:invalid_request');
        return entra_error(400, 'invalid_request', 900023,
            "Specified tenant identifier '$tenant' is neither a valid DNS name, nor a valid external domain; the client credentials grant needs a tenant-specific authority.");
    }
    if ($scope !~ m{^\S+/\.default$}) {
        bump('token_error', 'token_error:invalid_scope');
        return entra_error(400, 'invalid_scope', 1002012,
            "The provided value for scope $scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).");
    }
    my $now = time;
    my $exp_in = sw($sw, 'expires_in', $tenant) // 3600;
    my $sp = 'sp-' . unpack('H*', substr($client, 0, 16));
    my $jti = "cc-$seq-" . random_string(12);
    my $at = encode_jwt(
        alg => 'RS256', key => key_info('rsa-a')->{priv},
        extra_headers => { kid => 'rsa-a', typ => 'JWT' },
        payload => {
            iss => issuer_for($tenant), aud => scope_resource($scope) // 'api://downstream',
            sub => $sp, oid => $sp, tid => $tenant, idtyp => 'app',
            roles => [split ' ', sw($sw, 'cc_roles', $tenant) // 'Data.Read.All'],
            azp => $client, appid => $client, azpacr => '1', ver => '2.0',
            iat => $now, nbf => $now, exp => $now + $exp_in, jti => $jti, uti => $jti,
            obo_seq => $seq, obo_grant => 'client_credentials',
        },
    );
    my %body = (
        token_type     => sw($sw, 'token_type', $tenant) // 'Bearer',
        access_token   => $at . (sw($sw, 'access_token_suffix', $tenant) // ''),
        expires_in     => $exp_in + 0,
        ext_expires_in => $exp_in + 0,
    );
    delete @body{qw(expires_in ext_expires_in)} if sw($sw, 'omit_expires_in', $tenant);
    my $rin = sw($sw, 'refresh_in', $tenant);
    $body{refresh_in} = $rin + 0 if defined $rin && length $rin;
    bump('token_ok', "token_ok\@$tenant", "cc_ok:$client");
    return json_response(200, \%body);
}

# ------------------------------------------------- refresh tokens --------
# Rotating refresh tokens, remembered in the state: each use returns a new
# one and the old one is refused from then on (strict rotation, as IdPs
# with reuse detection do; Entra itself keeps a used one valid until it
# expires, so a server that used a stale one would succeed there, but here
# it gets invalid_grant and counter refresh_stale). Switches: rt_lifetime
# (seconds, default 86400), refresh_expires_in (access tokens from a
# refresh; default: expires_in), rt_reuse_revokes (a stale use revokes the
# whole family). POST /control/revoke sub=SUB revokes a user's tokens.
sub issue_rt {
    my ($seq, $claims, $tid, $scope, $family, $sw, $tenant) = @_;
    my $rt = "rt-$seq-" . random_string(32);
    my $life = sw($sw, 'rt_lifetime', $tenant) // 86400;
    with_state(sub {
        $_[0]{rts}{$rt} = { sub => $claims->{sub}, oid => $claims->{oid}, tid => $tid,
                            scope => $scope, exp => time + $life, family => $family // $rt,
                            used => 0 };
        return;
    });
    return $rt;
}

sub h_refresh {
    my ($tenant, $p, $sw, $seq, $method) = @_;
    my $rt = $p->{refresh_token};
    return entra_error(400, 'invalid_request', 900144,
        "The request body must contain the following parameter: 'refresh_token'.")
        unless defined $rt && length $rt;
    my ($rec, $why) = with_state(sub {
        my $st = $_[0];
        my $r = $st->{rts}{$rt} or return (undef, 'unknown');
        return (undef, 'revoked') if $r->{revoked};
        return (undef, 'expired') if time > $r->{exp};
        if ($r->{used}) {
            if (sw($st->{switches}, 'rt_reuse_revokes', $tenant)) {
                $_->{revoked} = 1 for grep { $_->{family} eq $r->{family} } values %{ $st->{rts} };
            }
            return (undef, 'stale');
        }
        $r->{used} = 1;
        return ({ %$r });
    });
    if (!$rec) {
        bump('refresh_error', "refresh_$why");
        return entra_error(400, 'invalid_grant', 50173,
            'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
            suberror => 'bad_token') if $why eq 'revoked';
        return entra_error(400, 'invalid_grant', 700082,
            'The refresh token has expired due to inactivity.', suberror => 'bad_token')
            if $why eq 'expired';
        return entra_error(400, 'invalid_grant', 9002313,
            "Invalid request. The refresh token was $why.");
    }
    my $now = time;
    my $exp_in = sw($sw, 'refresh_expires_in', $tenant) // sw($sw, 'expires_in', $tenant) // 3600;
    my $scope = $rec->{scope};
    my $jti = "obo-$seq-" . random_string(12);
    my $at = encode_jwt(
        alg => 'RS256', key => key_info('rsa-a')->{priv},
        extra_headers => { kid => 'rsa-a', typ => 'JWT' },
        payload => {
            iss => issuer_for($rec->{tid}), aud => scope_resource($scope) // 'api://downstream',
            sub => $rec->{sub}, (defined $rec->{oid} ? (oid => $rec->{oid}) : ()),
            tid => $rec->{tid}, iat => $now, nbf => $now, exp => $now + $exp_in,
            azp => $CLIENT_ID, scp => scope_names($scope), ver => '2.0', jti => $jti,
            uti => $jti, obo_seq => $seq, obo_grant => 'refresh_token',
            act => { sub => $CLIENT_ID },
        },
    );
    my $new = issue_rt($seq, $rec, $rec->{tid}, $scope, $rec->{family}, $sw, $tenant);
    bump('refresh_ok', "refresh_ok:$rec->{sub}");
    # token_type=...: a broken or hostile IdP, as for the other grants
    my %body = (token_type => sw($sw, 'token_type', $tenant) // 'Bearer', access_token => $at,
        expires_in => $exp_in + 0, ext_expires_in => $exp_in + 0, scope => $scope,
        refresh_token => $new);
    delete @body{qw(expires_in ext_expires_in)} if sw($sw, 'omit_expires_in', $tenant);
    return json_response(200, \%body);
}

# ------------------------------------------------ opaque tokens (RFC 7662) --
# /control/opaque?claims=JSON mints a random opaque token whose introspection
# answer is exactly that JSON object (so a test can send odd answers:
# "active": "true", a refresh token's token_type...). /TENANT/oauth2/v2.0/
# introspect answers it after client authentication, as the token endpoint
# checks it; an unknown token is {"active": false}. Counters: introspect,
# introspect@TENANT, introspect:SUB. Switches: introspect_fault[@TENANT] =
# 500 | 503_retry_after (Retry-After retry_after, default 1) | down (connection
# closed) | slow (slow_seconds, default 3, then the answer) | slow_500
# (slow_seconds, then a 500: a failure a whole herd waits for).
sub opaque_record {
    my ($tok) = @_;
    return undef unless defined $tok && $tok =~ /^opq_[A-Za-z0-9]+$/;
    return with_state(sub { $_[0]{opaque}{$tok} });
}

sub opaque_active {
    my ($o) = @_;
    return ref $o->{active} && $o->{active} && (!defined $o->{exp} || $o->{exp} > time);
}

sub h_opaque_mint {
    my ($q) = @_;
    my $claims = eval { $JSON->decode($q->{claims} // '{}') };
    return json_response(400, { error => 'claims must be a JSON object' })
        unless ref $claims eq 'HASH';
    (my $rand = random_string(40)) =~ s/[^A-Za-z0-9]/x/g;
    my $tok = "opq_$rand";
    with_state(sub { $_[0]{opaque}{$tok} = $claims; return });
    return json_response(200, { token => $tok });
}

sub h_introspect {
    my ($tenant, $req, $sw) = @_;
    my $p = parse_form($req->content);
    my $o = opaque_record($p->{token});
    bump('introspect', "introspect\@$tenant", 'introspect:' . ($o && $o->{sub} // '-'));
    my $fault = sw($sw, 'introspect_fault', $tenant) // '';
    return undef if $fault eq 'down';
    sleep(sw($sw, 'slow_seconds', $tenant) // 3) if $fault eq 'slow_500';
    return json_response(500, { error => 'server_error' }) if $fault =~ /^(?:slow_)?500$/;
    return json_response(503, { error => 'temporarily_unavailable' },
                         'Retry-After' => sw($sw, 'retry_after', $tenant) // 1)
        if $fault eq '503_retry_after';
    sleep(sw($sw, 'slow_seconds', $tenant) // 3) if $fault eq 'slow';
    my ($method, $err) = client_auth($req, $p, $tenant, $sw);
    if (!$method) {
        bump('introspect_client_error');
        return $err;
    }
    return json_response(400, { error => 'invalid_request', error_description => 'token is required' })
        unless defined $p->{token};
    with_state(sub {
        push @{ $_[0]{last} }, { time => time, tenant => $tenant, endpoint => 'introspect',
                                 method => $method, hint => $p->{token_type_hint} };
        shift @{ $_[0]{last} } while @{ $_[0]{last} } > 50;
        return;
    });
    return json_response(200, $o // { active => JSON::PP::false });
}

sub h_control {
    my ($what, $req) = @_;
    my %q = URI->new($req->uri)->query_form;
    %q = (%q, %{ parse_form($req->content) }) if $req->method eq 'POST';
    if ($what eq 'timings') {     # the token endpoint's own times (note_time)
        my @t;
        if (open my $fh, '<', "$STATE/token_usec") { chomp(@t = <$fh>) }
        return json_response(200, { token_usec => [ map { $_ + 0 } @t ] });
    }
    if ($what eq 'counters') {
        return json_response(200, with_state(sub { $_[0]{counters} }));
    }
    if ($what eq 'state') {
        return json_response(200, with_state(sub { $_[0] }));
    }
    if ($what eq 'last') {
        return json_response(200, with_state(sub { $_[0]{last} }));
    }
    if ($what eq 'revoke') {    # every refresh token of user sub=SUB
        my $n = with_state(sub {
            my @r = grep { ($_->{sub} // '') eq ($q{sub} // '') } values %{ $_[0]{rts} };
            $_->{revoked} = 1 for @r;
            return scalar @r;
        });
        logmsg("control: revoke $n refresh token(s)");
        return json_response(200, { revoked => $n });
    }
    if ($what eq 'opaque') {
        return h_opaque_mint(\%q);
    }
    if ($what eq 'reset') {
        with_state(sub { %{ $_[0] } = (); return });
        unlink "$STATE/down_until", "$STATE/token_usec";
        logmsg('control: reset');
        return json_response(200, { ok => JSON::PP::true });
    }
    if ($what eq 'set') {
        if (defined(my $d = delete $q{down})) {
            open my $fh, '>', "$STATE/down_until.tmp" or die;
            print $fh time + $d;
            close $fh;
            rename "$STATE/down_until.tmp", "$STATE/down_until";
        }
        my $sw = with_state(sub {
            my $s = $_[0]{switches};
            for my $k (keys %q) {
                if (!length $q{$k} || $q{$k} eq 'off') { delete $s->{$k} }
                else { $s->{$k} = $q{$k} }
            }
            return { %$s };
        });
        logmsg('control: set ' . join(' ', map { "$_=$q{$_}" } sort keys %q));
        return json_response(200, $sw);
    }
    return json_response(404, { error => 'unknown control endpoint' });
}

# The IdP's own time per token request (from its first bytes to the answer
# written), one line of microseconds each in $STATE/token_usec: what
# bench/run.sh's miss row subtracts to get what the module adds. An append
# of a few bytes after the answer went out (no lock, no state rewrite).
sub note_time {
    my ($req, $secs) = @_;
    return unless $req->method eq 'POST' && $req->uri =~ m{/oauth2/v2\.0/token(?:\?|$)};
    open my $fh, '>>', "$STATE/token_usec" or return;
    syswrite $fh, sprintf("%d\n", $secs * 1e6);
    close $fh;
}

sub dispatch {
    my ($req) = @_;
    my $path = URI->new($req->uri)->path;
    my $m = $req->method;
    return h_control($1, $req) if $path =~ m{^/control/(\w+)$};
    my $sw = switches_now();
    if ($m eq 'GET') {
        return h_discovery($1, $sw) if $path =~ m{^/([^/]+)/v2\.0/\.well-known/openid-configuration$};
        return h_jwks($1, $sw)      if $path =~ m{^/([^/]+)/discovery/v2\.0/keys$};
        return h_evil($1)           if $path =~ m{^/evil/([\w.-]+)$};
    }
    if ($path =~ m{^/([^/]+)/oauth2/v2\.0/introspect$}) {
        return json_response(405, { error => 'invalid_request', error_description => 'use POST' })
            unless $m eq 'POST';
        return h_introspect($1, $req, $sw);
    }
    if ($path =~ m{^/([^/]+)/oauth2/v2\.0/token$}) {
        return json_response(405, { error => 'invalid_request', error_description => 'use POST' })
            unless $m eq 'POST';
        return h_token($1, $req, $sw);
    }
    return json_response(404, { error => 'not_found', path => $path });
}

# ------------------------------------------------------- connections ----
package OBOIdP::Conn;
our @ISA = ('IO::Socket::SSL', 'HTTP::Daemon::ClientConn');
# HTTP::Daemon waits with select() on the file descriptor, which does not
# see bytes already decrypted and buffered by OpenSSL: check pending() first.
sub _need_more {
    my $self = shift;
    if ($_[1] && !$self->pending) {
        my ($timeout, $fdset) = @_[1, 2];
        my $n = select($fdset, undef, undef, $timeout);
        unless ($n) {
            $self->reason(defined($n) ? 'Timeout' : "select: $!");
            return;
        }
    }
    my $n = sysread($self, $_[0], 16384, length($_[0]));
    $self->reason(defined($n) ? 'Client closed' : "sysread: $!") unless $n;
    return $n;
}
# The listening socket is closed in the children (so that "down" really
# refuses connections); HTTP::Daemon only asks its daemon for the base URL.
sub daemon { return bless {}, 'OBOIdP::DaemonStub' }
package OBOIdP::DaemonStub;
sub url { return "https://127.0.0.1:$PORT/" }
sub product_tokens { return "obo-test-idp/1.0" }
package main;

# One TLS context for the daemon, made before the first fork: a context per
# connection loaded the system's CA bundle each time (about half of an
# exchange's time in the suite), which a server that asks for no client
# certificate never uses.
my $server_ctx;
sub server_ctx {
    $server_ctx //= IO::Socket::SSL::SSL_Context->new(
        SSL_server      => 1,
        SSL_cert_file   => "$PKI/server.pem",
        SSL_key_file    => "$PKI/server.key",
        SSL_verify_mode => SSL_VERIFY_NONE,
        SSL_ca_file     => undef,
        SSL_ca_path     => undef,
    ) or die "idp: TLS context: " . IO::Socket::SSL::errstr() . "\n";
    return $server_ctx;
}

sub serve_connection {
    my ($c) = @_;
    alarm 180;    # no child lives forever
    my $peer = $c->peerhost // '?';
    # HTTP::Daemon writes an answer's head and body apart: with Nagle's
    # algorithm the body waits for the client's delayed ACK (~40 ms a
    # request), a delay of this IdP's, not of the module's (bench miss row)
    setsockopt($c, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
    IO::Socket::SSL->start_SSL($c,
        SSL_server    => 1,
        SSL_reuse_ctx => server_ctx(),
        Timeout       => 10,
    ) or do { logmsg("TLS handshake from $peer failed: " . IO::Socket::SSL::errstr()); return };
    bless $c, 'OBOIdP::Conn';
    $c->timeout(15);
    my ($n, $counted, $t0) = (0, 0, 0);
    # The IdP's own time of a request starts when its first bytes arrive
    # (reading and parsing it are the IdP's work) and ends once the answer
    # is written.
    my $next = sub {
        IO::Select->new($c)->can_read(15) unless $c->pending;
        $t0 = Time::HiRes::time();
        return $c->get_request;
    };
    while (my $req = $next->()) {
        $n++;
        last if down_until() > time;    # "down": drop kept-alive connections too
        my $resp = eval { dispatch($req) };
        if ($@) {
            logmsg("ERROR: $@");
            $resp = json_response(500, { error => 'server_error', error_description => 'test IdP crashed' });
        }
        if (!defined $resp) {
            logmsg($req->method . ' ' . $req->uri . ' -> (connection closed)');
            last;
        }
        logmsg($req->method . ' ' . $req->uri . ' -> ' . $resp->code);
        $c->send_response($resp);
        note_time($req, Time::HiRes::time() - $t0);
        # TLS connections that served the IdP's endpoints (bench/run.sh
        # miss: a process reuses one); control requests are the tests'
        if (!$counted && URI->new($req->uri)->path !~ m{^/control/}) {
            bump('connections');
            $counted = 1;
        }
        last if ($req->header('Connection') // '') =~ /close/i || $n >= 100;
    }
    $c->close(SSL_fast_shutdown => 1);
}

my $listener;
sub open_listener {
    for my $try (1 .. 50) {
        $listener = HTTP::Daemon->new(
            LocalAddr => '127.0.0.1', LocalPort => $PORT, ReuseAddr => 1, Listen => 128,
        );
        return if $listener;
        sleep 0.1;
    }
    die "idp: cannot listen on 127.0.0.1:$PORT: $!\n";
}

# ---------------------------------------------------------------- main --
setpgrp(0, 0);
$SIG{CHLD} = 'IGNORE';    # children are reaped automatically
my $shutdown = sub {
    local $SIG{TERM} = 'IGNORE';
    kill 'TERM', -$$;
    unlink $opt{'pid-file'} if $opt{'pid-file'};
    logmsg('idp: stopping');
    exit 0;
};
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = $shutdown;
$SIG{ALRM} = $shutdown;
alarm $opt{lifetime};

# What every connection's child would otherwise load again after its fork
# (keys, lazily loaded modules): loaded once, in the parent.
sub warm_up {
    server_ctx();
    key_info($_) for OBOTest::Keys::signing_keys(), 'foreign', 'client';
    URI->new("https://127.0.0.1:$PORT/x?y=1")->path;
    my $jwt = encode_jwt(payload => { warm => 1 }, alg => 'RS256', key => key_info('rsa-a')->{priv});
    decode_jwt(token => $jwt, key => key_info('rsa-a')->{pub});
    $JSON->decode($JSON->encode({ warm => [1] }));
}

warm_up();
open_listener();
if ($opt{'pid-file'}) {
    open my $fh, '>', $opt{'pid-file'} or die "idp: $opt{'pid-file'}: $!\n";
    print $fh "$$\n";
    close $fh;
}
logmsg("idp: listening on $BASE (state $STATE, pki $PKI)");

my $sel = IO::Select->new($listener);
while (1) {
    my $until = down_until();
    if ($until > time) {
        logmsg("idp: down until " . localtime($until));
        $sel->remove($listener);
        $listener->close;
        undef $listener;
        sleep 0.2 while down_until() > time;
        unlink "$STATE/down_until";
        open_listener();
        $sel = IO::Select->new($listener);
        logmsg('idp: back up');
    }
    next unless $sel->can_read(0.25);
    my $c = $listener->accept or next;
    my $pid = fork;
    if (!defined $pid) { logmsg("fork failed: $!"); $c->close; next }
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP CHLD);
        $SIG{ALRM} = sub { exit 0 };
        $listener->close;
        serve_connection($c);
        exit 0;
    }
    close $c;
}
