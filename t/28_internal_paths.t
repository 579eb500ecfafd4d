# SPDX-License-Identifier: Apache-2.0
# Paths inside httpd that the module's hooks meet from the side (review 10):
# - mod_cache with CacheQuickHandler off stored one user's answer after the
#   module removed the caller's Authorization, and served it to the next;
# - DirectoryIndex (ap_internal_fast_redirect) handed the index file the
#   directory's token and a client-forged copy of the file's header;
# - a RewriteRule in an exchanging <Directory> exchanged for the section it
#   leaves, and failed the request when that exchange failed;
# - a forward proxy asked for Proxy-Authorization and read Authorization;
# - a token served to a subrequest (SSI) was never refreshed early: the
#   work was left in the subrequest's pool, and log_transaction runs for
#   the main request only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Services ();
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
my $t = OBOTest::Services::t_dir();
my $run = OBOTest::Services::run_dir();
my %p = OBOTest::Services::ports();
my $lib = '/usr/lib/apache2/modules';
my $NAME = 'httpd2paths';

# LoadModule lines for what the machine's httpd does not load already
sub modules {
    return join '', map {
        "<IfModule !mod_$_.c>\nLoadModule ${_}_module $lib/mod_$_.so\n"
        . ($_ eq 'mime' ? "TypesConfig /etc/mime.types\n" : '') . "</IfModule>\n"
    } @_;
}


# the CGI of mod_cache's test: cacheable, says whose answer it is
my $cd = "$run/paths-cache";
mkdir $cd; mkdir "$cd/root";
open my $fh, '>', "$cd/cc.cgi" or die "$cd/cc.cgi: $!";
print $fh <<'CGI';
#!/bin/sh
b="user=$REMOTE_USER"
printf 'Content-Type: text/plain\r\nCache-Control: max-age=300\r\nContent-Length: %d\r\n\r\n%s' ${#b} "$b"
CGI
close $fh;
chmod 0755, "$cd/cc.cgi";
# DirectoryIndex: the suite's env echo as each directory's index
my $dd = "$run/paths-di";
for my $sub ('', '/two', '/pub', '/envonly') {
    mkdir "$dd$sub";
    system('cp', "$t/cgi-bin/env.cgi", "$dd$sub/index.cgi") == 0 or die "cp: $?";
    chmod 0755, "$dd$sub/index.cgi";
}
my $rd = "$run/paths-rw";
mkdir $rd;
my $sd = "$run/paths-ssi";
mkdir $sd;
open $fh, '>', "$sd/page.shtml" or die "$sd/page.shtml: $!";
print $fh qq{<!--#include virtual="/x/backend/ssi" -->\n};
close $fh;

my $extra = <<"EOF";
@{[ modules(qw(cgi dir mime rewrite cache cache_disk)) ]}
CacheRoot $cd/root
CacheQuickHandler off
CacheEnable disk /c
CacheHeader on
ScriptAlias /c/ $cd/
<Location /c/>
    AuthType obo
    Require valid-user
    OBOScope api://dsa/.default
</Location>

Alias /di $dd
<Directory $dd>
    Options +ExecCGI
    AddHandler cgi-script .cgi
    DirectoryIndex index.cgi
    AuthType obo
    Require valid-user
    OBOScope api://dsa/.default
    OBOPassToken header X-Tok-A
    OBOPassToken env TOKA
</Directory>
<Directory $dd/two>
    <Files index.cgi>
        OBOScope api://dsb/.default
        OBOPassToken header X-Tok-B
    </Files>
</Directory>
<Directory $dd/pub>
    AuthType None
    Require all granted
    <Files index.cgi>
        AuthType obo
        Require valid-user
        OBOScope api://dsc/.default
        OBOPassToken header X-Tok-C
    </Files>
</Directory>
<Directory $dd/envonly>
    AuthType None
    Require all granted
    <Files index.cgi>
        AuthType obo
        Require valid-user
        OBOScope api://dse/.default
        OBOPassToken env TOKE
    </Files>
</Directory>

Alias /rw $rd
<Directory $rd>
    Options +FollowSymLinks
    AuthType obo
    Require valid-user
    OBOScope api://old-app/.default
    RewriteEngine On
    RewriteRule ^go\$ /x/backend/moved [L]
</Directory>

@{[ modules('include') ]}
OBOCacheMargin 5
Alias /ssi $sd
<Directory $sd>
    Options +Includes
    AddOutputFilter INCLUDES .shtml
    AddType text/html .shtml
    Require all granted
</Directory>

ProxyRequests On
<Proxy "http://127.0.0.1:$p{backend}/fwd/*">
    AuthType obo
    Require valid-user
</Proxy>
EOF
my $h = OBOTest::Httpd2->start(procs => 1, extra => $extra, tenant => 'xmc', name => $NAME);
my $ua = LWP::UserAgent->new(timeout => 30);
my $log = OBOTest::Services::logs_dir() . "/${NAME}_error_log";
sub log_mark { return -s $log || 0 }
sub log_since {
    my ($m) = @_;
    open my $lf, '<', $log or return '';
    seek $lf, $m, 0;
    local $/;
    return scalar(<$lf>) // '';
}
sub tok { return mint(tenant => 'xmc', claims => { sub => $_[0] }) }
sub get {
    my ($path, $token, @h) = @_;
    return $ua->get($h->url($path), ($token ? (Authorization => "Bearer $token") : ()), @h);
}
# the API a downstream token was issued for (its audience)
sub scope_of {
    my $c = decode_idp_token($_[0] // '');
    return $c ? join(' ', ref $c->{aud} ? @{ $c->{aud} } : $c->{aud} // '') : '';
}

subtest 'mod_cache (CacheQuickHandler off) stores no answer of an authenticated user' => sub {
    my ($alice, $bob) = (fresh_user('cache-a'), fresh_user('cache-b'));
    my $a = get('/c/cc.cgi', tok($alice));
    is $a->code, 200, 'alice: 200';
    like $a->content, qr/user=\Q$alice\E/, '  her answer';
    my $b = get('/c/cc.cgi', tok($bob));
    is $b->code, 200, 'bob: 200';
    like $b->content, qr/user=\Q$bob\E/, '  his own answer, not alice\'s';
    unlike $b->header('X-Cache') // '', qr/HIT/, '  not from the cache';
};

subtest 'DirectoryIndex hands off for the index file\'s section, never a forged header' => sub {
    my $u = fresh_user('di');
    my $r = get('/di/two/', tok($u), 'X-Tok-B' => 'forged-by-client');
    is $r->code, 200, 'GET /di/two/: 200';
    my $env = cgi_env($r);
    isnt $env->{HTTP_X_TOK_B} // '', 'forged-by-client', 'the client\'s X-Tok-B did not pass';
    like scope_of($env->{HTTP_X_TOK_B}), qr{dsb}, 'X-Tok-B holds the file\'s token (dsb)';
    ok !exists $env->{HTTP_X_TOK_A}, 'no X-Tok-A: the directory\'s hand-off is not the file\'s';
    ok !exists $env->{TOKA}, 'no TOKA';
    my $direct = cgi_env(get('/di/two/index.cgi', tok($u), 'X-Tok-B' => 'forged-by-client'));
    like scope_of($direct->{HTTP_X_TOK_B}), qr{dsb}, 'the same as asking for index.cgi by name';
};

subtest 'DirectoryIndex into a section that alone authenticates with the module' => sub {
    my $u = fresh_user('di-env');
    my $r = get('/di/envonly/', tok($u));
    is $r->code, 200, 'environment hand-off: 200';
    like scope_of(cgi_env($r)->{TOKE}), qr{dse}, '  TOKE holds the file\'s token (dse)';
    my $m = log_mark();
    $r = get('/di/pub/', tok($u), 'X-Tok-C' => 'forged-by-client');
    is $r->code, 500, 'header hand-off (lost with the subrequest\'s headers): 500, not a 200 '
        . 'without it';
    like log_since($m), qr/OBO076/, '  OBO076 says why';
    is get('/di/pub/index.cgi', tok($u))->code, 200, '  by its name: 200';
};

subtest 'a RewriteRule in an exchanging <Directory>: only the target exchanges' => sub {
    my $u = fresh_user('rw');
    my $m = log_mark();
    my $r = get('/rw/go', tok($u));
    is $r->code, 200, 'GET /rw/go (rewritten to /x/backend/moved): 200';
    is token_calls($u), 1, '  one IdP call: the target\'s';
    like log_since($m), qr/OBO075/, '  OBO075 (debug) says why';
    my $u2 = fresh_user('rw-fail');
    idp_set('token_fault@xmc' => '500', 'token_fault_scope@xmc' => 'old-app');
    my $f = get('/rw/go', tok($u2));
    idp_set('token_fault@xmc' => '', 'token_fault_scope@xmc' => '');
    is $f->code, 200, 'the source\'s scope failing at the IdP does not fail the request';
};

# an absolute-URI request through the forward proxy
sub via_proxy {
    my ($hdrs) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $h->port, Timeout => 10)
        or die "connect: $!";
    print $s "GET http://127.0.0.1:$p{backend}/fwd/backend/x HTTP/1.1\r\n"
        . "Host: 127.0.0.1:$p{backend}\r\nConnection: close\r\n$hdrs\r\n";
    local $/;
    my $b = <$s> // '';
    my ($code) = $b =~ m{^HTTP/\S+ (\d+)};
    return ($code // 0, $b);
}

subtest 'a forward proxy reads Proxy-Authorization, never the origin\'s Authorization' => sub {
    my $tk = tok(fresh_user('fwd'));
    my ($c, $b) = via_proxy('');
    is $c, 407, 'no credentials: 407';
    like $b, qr/^Proxy-Authenticate: Bearer/mi, '  Proxy-Authenticate: Bearer';
    ($c, $b) = via_proxy("Proxy-Authorization: Bearer $tk\r\n");
    is $c, 200, 'Proxy-Authorization: Bearer: 200';
    unlike $b, qr/proxy-authorization/i, '  the origin does not see it';
    ($c) = via_proxy("Authorization: Bearer $tk\r\n");
    is $c, 407, 'Authorization (the origin\'s credentials) does not pass the proxy: 407';
};

subtest 'a token served to an SSI subrequest is refreshed early, as a direct one' => sub {
    idp_set('expires_in@xmc' => 30, 'refresh_in@xmc' => 3);
    my ($ssi, $direct) = (fresh_user('rf-ssi'), fresh_user('rf-direct'));
    my ($ts, $td) = (tok($ssi), tok($direct));
    my $p = get('/ssi/page.shtml', $ts);
    is $p->code, 200, 'the page including /x/backend/ssi: 200';
    like $p->content, qr/backend/, '  with the backend\'s answer in it';
    is get('/x/backend/direct', $td)->code, 200, 'the control: /x/backend/direct: 200';
    sleep 4;    # past refresh_in (3 s), far from the margin (5 s of 30)
    get('/ssi/page.shtml', $ts);
    get('/x/backend/direct', $td);
    my $end = time + 10;
    sleep 0.2 while time < $end && (token_calls($ssi) < 2 || token_calls($direct) < 2);
    idp_set('expires_in@xmc' => '', 'refresh_in@xmc' => '');
    is token_calls($direct), 2, 'direct: renewed after its answer (2 IdP calls)';
    is token_calls($ssi), 2, 'SSI: renewed after its answer too (2 IdP calls)';
};

# Review 11: the flag reached only the request the module authenticated;
# the answer mod_cache stores is the main request's (SSI include virtual,
# DirectoryIndex), and a cookie token has no Authorization header by which
# mod_cache would refuse it. Here with CacheQuickHandler on (the default).
subtest 'mod_cache stores no answer built by an authenticated subrequest' => sub {
    my $qd = "$run/paths-q";
    mkdir $qd; mkdir "$qd/root"; mkdir "$qd/di"; mkdir "$qd/ssi";
    open my $c, '>', "$qd/di/index.cgi" or die "$qd/di/index.cgi: $!";
    print $c <<'CGI';
#!/bin/sh
b="claim=$OBO_CLAIM_sub"
printf 'Content-Type: text/plain\r\nCache-Control: max-age=300\r\nContent-Length: %d\r\n\r\n%s' ${#b} "$b"
CGI
    close $c;
    chmod 0755, "$qd/di/index.cgi";
    open $c, '>', "$qd/ssi/page.shtml" or die "$qd/ssi/page.shtml: $!";
    print $c qq{page:<!--#include virtual="/y/backend/ssi" -->\n};
    close $c;
    my $q = OBOTest::Httpd2->start(procs => 1, tenant => 'xmc', name => "${NAME}q", extra => <<"CONF");
@{[ modules(qw(cgi dir mime include cache cache_disk)) ]}
CacheRoot $qd/root
CacheEnable disk /di
CacheEnable disk /ssi
CacheHeader on
Alias /di $qd/di
Alias /ssi $qd/ssi
<Directory $qd/di>
    Options +ExecCGI
    AddHandler cgi-script .cgi
    DirectoryIndex index.cgi
    Require all granted
    <Files index.cgi>
        AuthType obo
        Require valid-user
        OBOAcceptTokenAs cookie:at
        OBOPassClaims env
    </Files>
</Directory>
<Directory $qd/ssi>
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
    Header set Cache-Control "max-age=300"
    Require all granted
</Directory>
<Location /y>
    AuthType obo
    Require valid-user
    OBOAcceptTokenAs cookie:at
    OBOScope api://downstream/.default
    OBOPassToken authorization
</Location>
CONF
    my $sub = fresh_user('q-di');
    my $a = $ua->get($q->url('/di/'), Cookie => 'at=' . tok($sub));
    like $a->content, qr/claim=\Q$sub\E/, 'DirectoryIndex, cookie token: the user\'s answer';
    my $anon = $ua->get($q->url('/di/'));
    unlike $anon->content, qr/\Q$sub\E/, '  an anonymous request does not get it from the cache';
    my $s = $ua->get($q->url('/ssi/page.shtml'), Cookie => 'at=' . tok(fresh_user('q-ssi')));
    like $s->content, qr/Bearer/, 'SSI including an exchanging Location: the downstream token in it';
    $anon = $ua->get($q->url('/ssi/page.shtml'));
    unlike $anon->content, qr/Bearer/, '  an anonymous request does not get it from the cache';
    $q->stop;
};

done_testing();
