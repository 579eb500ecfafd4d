# SPDX-License-Identifier: Apache-2.0
# An ErrorDocument for the exchange's own error codes in the exchanging
# Location (vhost obo_errdoc, tenant errdoc: ErrorDocument 500 and 502 to a
# CGI in /api2 itself). httpd runs the error page as an internal redirect in
# the same configuration, skipping authentication and authorization, so the
# fixups ran again: a failed exchange was made twice (each with its retry)
# and the caller got "Additionally, a 502 Bad Gateway error..." instead of
# the page. The error page after a failed exchange gets no downstream token
# and makes no IdP call (OBO069), and is served; with two downstreams, the
# token of the one exchanged before the failure is removed from it too.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn', 'exchange');
my $V = 'obo_errdoc';

sub tok { my ($sub) = @_; return mint(tenant => 'errdoc', claims => { sub => $sub }) }

subtest 'control: the exchange works there' => sub {
    my $sub = fresh_user('errdoc-ok');
    my $r = obo_get($V, '/api2/env', token => tok($sub));
    is $r->code, 200, 'status 200' or diag describe($r);
    ok cgi_env($r)->{OBO_ACCESS_TOKEN}, 'OBO_ACCESS_TOKEN set';
    is token_calls($sub), 1, 'one IdP call';
};

subtest 'the IdP answers 500: one exchange (with its retry), the error page served' => sub {
    my $sub = fresh_user('errdoc-500');
    my $mark = error_log_mark();
    idp_set('token_fault@errdoc' => '500');
    my $r = obo_get($V, '/api2/env', token => tok($sub));
    idp_set('token_fault@errdoc' => '');
    is $r->code, 502, 'status 502' or diag describe($r);
    unlike $r->content // '', qr/Additionally/, 'no second error while serving the error page'
        or diag describe($r);
    my $env = cgi_env($r);
    is $env->{REDIRECT_STATUS}, 502, 'the ErrorDocument (the CGI) ran' or diag describe($r);
    my @leak = grep { /OBO_ACCESS_TOKEN/ } keys %$env;
    ok !@leak, 'the error page got no downstream token' or diag "@leak";
    is token_calls($sub), 2, 'two IdP calls: one exchange and its retry, not a second exchange';
    my $log = error_log_since($mark);
    like $log, qr/OBO069: no downstream token for '\Q$sub\E': this error page follows a failed/,
        'the error page is logged (OBO069)';
};

subtest 'two downstreams, the second fails: the error page gets neither token' => sub {
    my $sub = fresh_user('errdoc-two');
    idp_set('token_fault@errdoc' => '500', 'token_fault_scope@errdoc' => 'downstream2');
    my $r = obo_get($V, '/api3/env', token => tok($sub));
    idp_set('token_fault@errdoc' => '', 'token_fault_scope@errdoc' => '');
    is $r->code, 502, 'status 502' or diag describe($r);
    my $env = cgi_env($r);
    is $env->{REDIRECT_STATUS}, 502, 'the ErrorDocument (the CGI) ran' or diag describe($r);
    my @leak = grep { /X_TOKEN_A|OBO_ACCESS_TOKEN/ } keys %$env;
    ok !@leak, "no downstream token of the first request (a's header)" or diag "@leak";
    is token_calls($sub), 3, "three IdP calls: a's exchange, b's and its retry";
};

done_testing();
