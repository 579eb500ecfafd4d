# SPDX-License-Identifier: Apache-2.0
# Client-sent copies of what the module sets (OBO-Claim-*) must not reach a
# backend through httpd's internal requests: a request that starts outside
# any obo Location and ends in one through ErrorDocument, a RewriteRule in a
# <Directory>, SSI include virtual, a CGI local redirect or an Action
# (issue 6, defect 1).
# vhost obo_edge, tenant edge; /claims has OBOPassClaims both.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();

need_feature('authn', 'exchange');
my $V = 'obo_edge';
# the token has no roles or groups claim: any such value is the client's
my @SPOOF = ('OBO-Claim-roles' => 'admin', 'OBO-Claim-groups' => 'wheel',
             'OBO-Claim-sub' => 'mallory', 'OBO-Claim-Scp' => 'everything');

sub tok { my ($sub) = @_; return mint(tenant => 'edge', claims => { sub => $sub }) }

sub included_env {
    my ($r) = @_;
    my ($json) = ($r->decoded_content // '') =~ /(\{.*\})/s;
    my $d = $json ? eval { JSON::PP->new->decode($json) } : undef;
    return ref $d eq 'HASH' && ref $d->{env} eq 'HASH' ? $d->{env} : {};
}

sub spoofed_vars {
    my ($env) = @_;
    return grep { /OBO_CLAIM_(ROLES|GROUPS)$/i || (/OBO_CLAIM_SUB$/i && $env->{$_} eq 'mallory')
                  || (/OBO_CLAIM_SCP$/i && $env->{$_} eq 'everything') } sort keys %$env;
}

sub check_env {
    my ($env, $sub, $name) = @_;
    is $env->{REMOTE_USER}, $sub, "$name: the CGI ran for the token's user"
        or diag explain $env;
    is $env->{HTTP_OBO_CLAIM_SUB}, $sub, "$name: OBO-Claim-sub is the token's";
    is $env->{OBO_CLAIM_sub}, $sub, "$name: OBO_CLAIM_sub is the token's";
    my @bad = spoofed_vars($env);
    ok !@bad, "$name: no variable carries a client-sent claim" or diag "@bad";
}

subtest 'control: the initial request into /claims' => sub {
    my $sub = fresh_user('scrub0');
    my $r = obo_get($V, '/claims/env', token => tok($sub), headers => [@SPOOF]);
    is $r->code, 200, 'status 200' or diag describe($r);
    check_env(cgi_env($r), $sub, 'direct');
};

subtest 'ErrorDocument from a public Location into /claims' => sub {
    my $sub = fresh_user('scrub1');
    my $r = obo_get($V, '/open/no-such-file', token => tok($sub), headers => [@SPOOF]);
    my $env = cgi_env($r);
    is $env->{REDIRECT_STATUS}, 404, 'the CGI ran as the ErrorDocument' or diag describe($r);
    check_env($env, $sub, 'ErrorDocument');
};

subtest 'RewriteRule in a <Directory> into /claims' => sub {
    my $sub = fresh_user('scrub2');
    my $r = obo_get($V, '/rw/claims', token => tok($sub), headers => [@SPOOF]);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $env = cgi_env($r);
    is $env->{REDIRECT_URL}, '/rw/claims', 'the CGI ran after the rewrite';
    check_env($env, $sub, 'rewrite');
};

subtest 'SSI include virtual of /claims from a public page' => sub {
    my $sub = fresh_user('scrub3');
    my $r = obo_get($V, '/ssi/claims.shtml', token => tok($sub), headers => [@SPOOF]);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $env = included_env($r);
    ok %$env, 'the include ran' or diag $r->decoded_content;
    check_env($env, $sub, 'SSI');
};

subtest 'CGI local redirect into /claims' => sub {
    my $sub = fresh_user('scrub4');
    my $r = obo_get($V, '/localredir', token => tok($sub), headers => [@SPOOF]);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $env = cgi_env($r);
    is $env->{REDIRECT_URL}, '/localredir', 'the CGI ran after the local redirect';
    # the first CGI saw the client's headers: REDIRECT_HTTP_OBO_CLAIM_* must go too
    check_env($env, $sub, 'local redirect');
};

subtest 'Action handler into /claims' => sub {
    my $sub = fresh_user('scrub5');
    my $r = obo_get($V, '/ssi/page.act', token => tok($sub), headers => [@SPOOF]);
    is $r->code, 200, 'status 200' or diag describe($r);
    my $env = cgi_env($r);
    is $env->{REDIRECT_URL}, '/ssi/page.act', 'the CGI ran as the Action handler';
    check_env($env, $sub, 'Action');
};

done_testing();
