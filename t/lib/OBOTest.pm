# SPDX-License-Identifier: Apache-2.0
package OBOTest;
# Helpers for the mod_auth_obo Apache::Test suite.
#
#   use Apache::Test qw(-withtestmore);
#   use lib 't/lib';  (Apache::Test already puts t/lib on @INC? we add it)
#   use OBOTest;
#   need_feature('authn');                 # skips the file on a placeholder module
#   my $r = obo_get('obo_disc', '/api/env', token => mint());
#   my $env = json_body($r);
#   my $ch = www_authenticate($r);        # { scheme => 'Bearer', params => {...} }
#   idp_reset(); idp_set(rotate => 1); my $c = idp_counters();
use strict;
use warnings;
use Carp qw(croak);
use FindBin;
use JSON::PP;
use LWP::UserAgent;
use HTTP::Request;
use Time::HiRes qw(sleep);
use Apache::TestRequest ();
use Apache::Test ();
use OBOTest::Keys qw(pki_dir);
use OBOTest::Services ();
use OBOTest::Mint;
use Digest::SHA ();
use Exporter 'import';

our @EXPORT = (
    @OBOTest::Mint::EXPORT,
    qw(need_feature has_feature vhost_url obo_request obo_get obo_post json_body memcached_name
       www_authenticate bearer_challenge idp_url idp_ua idp_get_json idp_reset idp_set
       idp_counters idp_last_requests idp_counter counter_delta
       memcached_port memcached_cmd memcached_get memcached_keys memcached_stop memcached_start
       error_log_since error_log_mark server_processes t_dir looks_like_no_token_leak
       idp_stop idp_start max_procs cgi_env expect_ok expect_no_token expect_invalid_token
       expect_insufficient_scope expect_status describe
       fresh_user token_calls decode_idp_token backend_headers backend_header burst
       oid_of user_token idp_opaque),
);

my $JSON = (eval { require JSON::XS; JSON::XS->new } || JSON::PP->new)->canonical->utf8->allow_nonref;

sub t_dir { return OBOTest::Services::t_dir() }

# ------------------------------------------------------------ features --
# t/TEST.PL probes the built module and writes t/run/features.json:
#   {"authn": 1|0, "exchange": 1|0, "module": "/path/mod_auth_obo.so"}
sub features {
    my $f = t_dir() . '/run/features.json';
    open my $fh, '<', $f or return {};
    local $/;
    return eval { $JSON->decode(<$fh>) } || {};
}
sub has_feature { my ($name) = @_; return features()->{$name} ? 1 : 0 }

my %WHY = (
    authn    => 'mod_auth_obo does not implement its directives yet (placeholder module: '
              . "'OBOClockSkew' is an invalid command)",
    exchange => "mod_auth_obo does not know 'OBOScope' yet (token exchange not implemented)",
);
sub need_feature {
    my (@names) = @_;
    for my $n (@names) {
        next if has_feature($n);
        print "1..0 # SKIP $WHY{$n}\n";
        exit 0;
    }
    return 1;
}

# --------------------------------------------------------- requests -----
sub vhost_url {
    my ($vhost, $path) = @_;
    my $cfg = Apache::Test::config();
    my $port;
    if ($vhost eq 'default') {
        $port = $cfg->{vars}{port};
    }
    else {
        my $hp = $cfg->{vhosts}{$vhost}{hostport}
            or croak "no <VirtualHost $vhost> in the test configuration";
        ($port) = $hp =~ /:(\d+)$/;
    }
    return "http://127.0.0.1:$port$path";
}

my $UA;
sub ua {
    $UA ||= LWP::UserAgent->new(timeout => 30, keep_alive => 0, max_redirect => 0,
                                agent => 'obo-tests/1.0');
    return $UA;
}

# obo_request($vhost, $method, $path, token => T, headers => [..], content => ..)
# token => undef sends no Authorization header; scheme => 'bearer' changes it;
# authorization => 'raw header value' overrides both.
sub obo_request {
    my ($vhost, $method, $path, %o) = @_;
    my $req = HTTP::Request->new($method => vhost_url($vhost, $path));
    if (defined $o{authorization}) {
        $req->header(Authorization => $o{authorization});
    }
    elsif (defined $o{token}) {
        $req->header(Authorization => ($o{scheme} // 'Bearer') . ' ' . $o{token});
    }
    my @h = @{ $o{headers} || [] };
    while (my ($k, $v) = splice @h, 0, 2) {
        # push_header with a leading ':' keeps underscores and case verbatim
        $req->headers->push_header(":$k" => $v);
    }
    if (defined $o{content}) {
        $req->content($o{content});
        $req->header('Content-Type' => $o{content_type} // 'application/x-www-form-urlencoded');
    }
    return ua()->request($req);
}
sub obo_get  { my ($v, $p, %o) = @_; return obo_request($v, 'GET',  $p, %o) }
sub obo_post { my ($v, $p, %o) = @_; return obo_request($v, 'POST', $p, %o) }

sub json_body {
    my ($r) = @_;
    my $d = eval { $JSON->decode($r->decoded_content // $r->content) };
    return $d;
}

# Parse a WWW-Authenticate challenge (RFC 7235 auth-params, quoted strings
# with backslash escapes). Returns a list of { scheme, params, token68 } in
# list context, the first Bearer one in scalar context.
sub www_authenticate {
    my ($r_or_str) = @_;
    my @values = ref $r_or_str ? $r_or_str->header('WWW-Authenticate') : ($r_or_str);
    my @out;
    for my $v (grep { defined } @values) {
        my $s = $v;
        my $cur;
        while (length $s) {
            $s =~ s/^[\s,]+//;
            last unless length $s;
            if ($s =~ s/^([!#\$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)//) {
                my ($k, $raw, $q) = ($1, $2, $3);
                my $val = defined $q ? ($q =~ s/\\(.)/$1/gr) : $raw;
                $cur ||= { scheme => '', params => {} };
                $cur->{params}{ lc $k } = $val;
                $cur->{quoted}{ lc $k } = defined $q ? 1 : 0;
                next;
            }
            if ($s =~ s/^([!#\$%&'*+.^_`|~0-9A-Za-z-]+)//) {
                push @out, $cur if $cur;
                $cur = { scheme => $1, params => {} };
                if ($s =~ s/^\s+([A-Za-z0-9._~+\/-]+=*)(?=\s*(,|$))//) { $cur->{token68} = $1 }
                next;
            }
            $s =~ s/^.//;    # skip junk
        }
        push @out, $cur if $cur;
    }
    return @out if wantarray;
    my ($b) = grep { lc($_->{scheme}) eq 'bearer' } @out;
    return $b;
}
sub bearer_challenge { my $c = www_authenticate($_[0]); return $c }

# A response must not echo anything of the token it was given.
sub looks_like_no_token_leak {
    my ($r, $token) = @_;
    my ($h, $p, $s) = split /\./, $token // '';
    my $all = join "\n", ($r->headers->as_string, $r->content // '');
    for my $part (grep { defined && length > 12 } $h, $p, $s, $token) {
        return 0 if index($all, substr($part, 0, 12)) >= 0;
    }
    return 1;
}

# ------------------------------------------------------------- the IdP --
sub idp_port { my %p = OBOTest::Services::ports(); return $p{idp} }
sub idp_url  { my ($path) = @_; return 'https://127.0.0.1:' . idp_port() . ($path // '/') }

my $IDP_UA;
sub idp_ua {
    $IDP_UA ||= LWP::UserAgent->new(
        timeout => 20, keep_alive => 0,
        ssl_opts => { SSL_ca_file => pki_dir() . '/ca.pem', verify_hostname => 1 },
    );
    return $IDP_UA;
}

sub idp_get_json {
    my ($path) = @_;
    my $r = idp_ua()->get(idp_url($path));
    croak "IdP GET $path: " . $r->status_line unless $r->is_success;
    return $JSON->decode($r->content);
}

sub idp_post_json {
    my ($path) = @_;
    my $r = idp_ua()->post(idp_url($path));
    croak "IdP POST $path: " . $r->status_line unless $r->is_success;
    return $JSON->decode($r->content);
}

# idp_opaque(active => JSON::PP::true, sub => ..., ...): a new opaque token
# whose introspection answer (t/idp/idp.pl) is exactly these members
sub idp_opaque {
    my (%claims) = @_;
    my $u = URI->new(idp_url('/control/opaque'));
    $u->query_form(claims => $JSON->encode(\%claims));
    my $r = idp_ua()->post($u);
    croak 'IdP opaque: ' . $r->status_line unless $r->is_success;
    return $JSON->decode($r->content)->{token};
}

sub idp_reset    { return idp_post_json('/control/reset') }
sub idp_counters { return idp_get_json('/control/counters') }
sub idp_last_requests { return idp_get_json('/control/last') }
sub idp_counter  { my ($name) = @_; return idp_counters()->{$name} // 0 }

# idp_set(name => value, ...); value '' or 'off' clears a switch
sub idp_set {
    my (%sw) = @_;
    my $u = URI->new(idp_url('/control/set'));
    $u->query_form(%sw);
    my $r = idp_ua()->post($u);
    croak 'IdP set: ' . $r->status_line unless $r->is_success;
    return $JSON->decode($r->content);
}

# counter_delta(sub { ...requests... }, @names) -> { name => increase }
sub counter_delta {
    my ($code, @names) = @_;
    my $before = idp_counters();
    $code->();
    my $after = idp_counters();
    return { map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) } @names };
}

sub idp_stop  { return OBOTest::Services::stop_service('idp') }
sub idp_start { return OBOTest::Services::start_service('idp') }

# ----------------------------------------------------------- memcached --
sub memcached_port { my %p = OBOTest::Services::ports(); return $p{memcached} }

# raw text protocol command; returns the full reply (up to END/terminal line)
sub memcached_cmd {
    my ($cmd, $port) = @_;
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port // memcached_port(),
                                  Timeout => 3) or return undef;
    print {$s} "$cmd\r\n";
    my $out = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(3)) {
        my $n = sysread($s, $out, 65536, length $out) or last;
        last if $out =~ /(^|\n)(END|OK|ERROR|STORED|NOT_STORED|DELETED|NOT_FOUND|CLIENT_ERROR[^\r]*|SERVER_ERROR[^\r]*|VERSION [^\r]*)\r\n$/;
    }
    close $s;
    return $out;
}

sub memcached_get {
    my ($key) = @_;
    my $r = memcached_cmd("get $key") // return undef;
    return undef unless $r =~ /^VALUE \S+ \d+ (\d+)\r\n/;
    my $len = $1;
    return substr($r, length($&), $len);
}

# all keys currently stored (memcached >= 1.5.19: lru_crawler metadump)
sub memcached_keys {
    my $r = memcached_cmd('lru_crawler metadump all') // return ();
    my @k;
    # metadump ends its lines with a bare \n (review 25: split on \r\n,
    # the whole dump was one line and only its first key was seen)
    for (split /\r?\n/, $r) {
        push @k, URI::Escape::uri_unescape($1) if /^key=(\S+)/;
    }
    return @k;
}

# The name a logical cache key has in memcached (obo_cache.c, obo_named_key):
# "obo2:" and the HMAC-SHA256 of the key under HKDF-SHA256(the cache secret,
# salt "mod_auth_obo cache", info "obo cache names v1"). $secret defaults to
# the suite's (t/pki/cache-secret.txt).
sub memcached_name {
    my ($key, $secret) = @_;
    $secret //= 'obo-test-cache-secret-0123456789abcdef';
    my $prk = Digest::SHA::hmac_sha256($secret, 'mod_auth_obo cache');
    my $nkey = Digest::SHA::hmac_sha256("obo cache names v1\x01", $prk);
    return 'obo2:' . Digest::SHA::hmac_sha256_hex($key, $nkey);
}

sub memcached_stop  { return OBOTest::Services::stop_service('memcached') }
sub memcached_start { return OBOTest::Services::start_service('memcached') }

# -------------------------------------------------------------- httpd ---
sub error_log_path { return Apache::Test::vars('t_logs') . '/error_log' }

sub error_log_mark { return -s error_log_path() || 0 }

sub error_log_since {
    my ($mark) = @_;
    open my $fh, '<', error_log_path() or return '';
    seek $fh, $mark // 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

# pids of the httpd children of the test server (for per-process bounds)
sub server_processes {
    my $pidf = Apache::Test::vars('t_pid_file');
    open my $fh, '<', $pidf or return ();
    my $ppid = <$fh>;
    chomp $ppid;
    my @kids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $s, '<', "/proc/$p/stat" or next;
        my $st = <$s> // next;
        push @kids, $p if $st =~ /^\d+ \(.*\) \S+ (\d+)/ && $1 == $ppid;
    }
    return @kids;
}

# ----------------------------------------------------------- assertions --
# Each expect_* is ONE test (ok/not ok) with a diagnostic of the response.
sub describe {
    my ($r) = @_;
    my $body = $r->content // '';
    $body = substr($body, 0, 400) . '...' if length $body > 400;
    my @wa = $r->header('WWW-Authenticate');
    return sprintf("got %s\n  WWW-Authenticate: %s\n  body: %s", $r->status_line,
                   @wa ? join(' | ', @wa) : '(none)', $body);
}

sub max_procs { return features()->{max_procs} || 1 }

sub cgi_env {
    my ($r) = @_;
    my $d = json_body($r);
    return ref $d eq 'HASH' && ref $d->{env} eq 'HASH' ? $d->{env} : {};
}

sub _realm_ok {
    my ($c, $realm) = @_;
    return 1 unless defined $realm;
    my $got = $c->{params}{realm};
    return 0 unless defined $got;
    return ref $realm eq 'Regexp' ? $got =~ $realm : $got eq $realm;
}

# 200 and (if the response is the echo CGI) REMOTE_USER / AUTH_TYPE
sub expect_ok {
    my ($r, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = $r->code == 200;
    if ($ok && defined $o{user}) {
        my $env = cgi_env($r);
        $ok = ($env->{REMOTE_USER} // '') eq $o{user} && ($env->{AUTH_TYPE} // '') eq 'obo';
    }
    return Test::More::ok($ok, $name) || Test::More::diag(describe($r));
}

sub expect_status {
    my ($r, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = ref $code eq 'ARRAY' ? (grep { $r->code == $_ } @$code) : $r->code == $code;
    return Test::More::ok($ok, $name) || Test::More::diag(describe($r));
}

# 401 with a Bearer challenge carrying the realm and no error attribute
sub expect_no_token {
    my ($r, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = www_authenticate($r);
    my $ok = $r->code == 401 && $c && _realm_ok($c, $o{realm} // 'test-api')
        && !exists $c->{params}{error} && !exists $c->{params}{error_description};
    return Test::More::ok($ok, $name) || Test::More::diag(describe($r));
}

# 401, Bearer realm=..., error="invalid_token", a short error_description
# that does not echo the token; status 400 allowed with allow_400 => 1.
sub expect_invalid_token {
    my ($r, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = www_authenticate($r);
    my $ok;
    if ($o{allow_400} && $r->code == 400) {
        $ok = 1;
    }
    else {
        $ok = $r->code == 401 && $c && _realm_ok($c, $o{realm} // 'test-api')
            && ($c->{params}{error} // '') eq 'invalid_token'
            && $c->{quoted}{error}
            && defined $c->{params}{error_description}
            && length($c->{params}{error_description}) <= 200;
    }
    $ok &&= looks_like_no_token_leak($r, $o{token}) if defined $o{token};
    return Test::More::ok($ok, $name) || Test::More::diag(describe($r));
}

# 403, Bearer error="insufficient_scope" (+ scope="..." containing $o{scope})
sub expect_insufficient_scope {
    my ($r, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = www_authenticate($r);
    my $ok = $r->code == 403 && $c && _realm_ok($c, $o{realm} // 'test-api')
        && ($c->{params}{error} // '') eq 'insufficient_scope';
    if ($ok && defined $o{scope}) {
        my %have = map { $_ => 1 } split ' ', $c->{params}{scope} // '';
        $ok = $have{ $o{scope} };
    }
    return Test::More::ok($ok, $name) || Test::More::diag(describe($r));
}

# ------------------------------------------------------------ exchange --
my $user_seq = 0;
sub fresh_user {
    my ($tag) = @_;
    return join '-', 'u', $tag // 'x', $$, ++$user_seq, int(rand(1e6));
}

# A GUID-shaped Entra object id derived from a subject: sessions bind to
# tid+oid, so each test user gets a stable one of its own.
sub oid_of {
    my ($sub) = @_;
    my $h = substr(Digest::SHA::sha256_hex($sub), 0, 32);
    return join '-', substr($h, 0, 8), substr($h, 8, 4), '4' . substr($h, 13, 3),
        '8' . substr($h, 17, 3), substr($h, 20, 12);
}

# A fresh token of user $sub at $tenant with its oid (uti makes each new).
sub user_token {
    my ($sub, $tenant, %claims) = @_;
    return mint(tenant => $tenant, claims => { sub => $sub, oid => oid_of($sub), %claims });
}

# IdP token endpoint calls for one user (any scope): counters token:<sub>:*
sub token_calls {
    my ($sub, $c) = @_;
    $c ||= idp_counters();
    my $n = 0;
    $n += $c->{$_} for grep { index($_, "token:$sub:") == 0 } keys %$c;
    return $n;
}

# verify a token issued by the test IdP; returns its claims or undef
sub decode_idp_token {
    my ($tok) = @_;
    require Crypt::JWT;
    my %keys = map { $_ => OBOTest::Keys::key_info($_)->{pub} } OBOTest::Keys::published_kids('both');
    my ($h) = split /\./, $tok // '';
    my $hdr = eval { $JSON->decode(MIME::Base64::decode_base64url($h)) } or return undef;
    my $k = $keys{ $hdr->{kid} // '' } or return undef;
    return eval { Crypt::JWT::decode_jwt(token => $tok, key => $k) };
}

# the echo backend's view: list of [name, value]
sub backend_headers {
    my ($r) = @_;
    my $d = json_body($r);
    return ref $d eq 'HASH' && ref $d->{headers} eq 'ARRAY' ? @{ $d->{headers} } : ();
}
# all values of one header at the backend (name compared case-insensitively,
# '-' and '_' alike)
sub backend_header {
    my ($r, $name) = @_;
    (my $want = lc $name) =~ tr/_/-/;
    return map { $_->[1] } grep { (my $n = lc $_->[0]) =~ tr/_/-/; $n eq $want } backend_headers($r);
}

# burst(@requests): send every request at (nearly) the same moment, each on
# its own connection; request = [url, header => value, ...]. Returns a list
# of { code, body, json } in the same order (code 0 when it failed).
sub burst {
    my (@reqs) = @_;
    require IO::Socket::INET;
    my @c;
    for my $q (@reqs) {
        my ($url, @h) = @$q;
        my $u = URI->new($url);
        my $s = IO::Socket::INET->new(PeerAddr => $u->host, PeerPort => $u->port, Timeout => 10);
        my $req = 'GET ' . $u->path_query . " HTTP/1.1\r\nHost: " . $u->host_port . "\r\nConnection: close\r\n";
        while (my ($k, $v) = splice @h, 0, 2) { $req .= "$k: $v\r\n" }
        push @c, { sock => $s, req => "$req\r\n", buf => '' };
    }
    for (@c) { syswrite($_->{sock}, $_->{req}) if $_->{sock} }
    my %by_fd = map { fileno($_->{sock}) => $_ } grep { $_->{sock} } @c;
    my $sel = IO::Select->new(map { $_->{sock} } values %by_fd);
    my $end = time + 90;
    while ($sel->count && time < $end) {
        for my $s ($sel->can_read(1)) {
            my $e = $by_fd{ fileno $s };
            my $n = sysread($s, $e->{buf}, 65536, length $e->{buf});
            if (!$n) { $sel->remove($s); close $s }
        }
    }
    my @out;
    for my $e (@c) {
        my ($head, $body) = split /\r\n\r\n/, $e->{buf}, 2;
        $body //= '';
        my ($code) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})};
        if (($head // '') =~ /^Transfer-Encoding:\s*chunked/mi) {
            my $out = '';
            while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $n = hex $1;
                last unless $n;
                $out .= substr($body, 0, $n, '');
                $body =~ s/^\r\n//;
            }
            $body = $out;
        }
        push @out, { code => $code // 0, body => $body // '', head => $head // '',
                     json => scalar eval { $JSON->decode($body // '') } };
    }
    return @out;
}

require IO::Select;
require MIME::Base64;
require Test::More;
require URI;
require URI::Escape;
require IO::Select;

1;
