# SPDX-License-Identifier: Apache-2.0
# Logs where the administrator looks (issue 8, "the administrator's first
# hour"), vhost obo_vlog (tenant xvlog): its own ErrorLog and LogLevel
# auth_obo:debug.
#   - the exchange's error (OBO3xx, with the IdP's text) is logged against
#     the request: in the virtual host's ErrorLog, with [client ...];
#   - at debug, a rejected token's claims are logged next to the configured
#     values (OBO122), with the Entra v1/v2 hint, never the token;
#   - OBOAudience in <Location /api> applies to AuthType obo in
#     <Location /api/x> (merged configuration);
#   - without AuthName the realm is the ServerName, not the Host header.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Time::HiRes qw(sleep);
use HTTP::Request;

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_vlog';
my $VLOG = Apache::Test::vars('t_logs') . '/vlog_error_log';

sub vlog_mark { return -s $VLOG || 0 }
sub vlog_since {
    my ($mark) = @_;
    sleep 0.3;   # the child writes its log line after the response
    open my $fh, '<', $VLOG or return '';
    seek $fh, $mark, 0;
    local $/;
    return scalar(<$fh>) // '';
}

subtest 'OBOAudience from the enclosing <Location /api> applies' => sub {
    my $r = obo_get($V, '/api/x/env', token => mint(tenant => 'xvlog', claims => { sub => fresh_user('vlog') }));
    expect_ok($r, 'a valid token for the merged audience: 200');
};

subtest 'the exchange error goes to the virtual host\'s ErrorLog, against the request' => sub {
    my $mark = vlog_mark();
    my $main = error_log_mark();
    my $ut = mint(tenant => 'xvlog', claims => { sub => fresh_user('vlog') });
    idp_set('token_fault@xvlog' => 'invalid_client');
    my $r = obo_get($V, '/api/x/env', token => $ut);
    idp_set('token_fault@xvlog' => '');
    is $r->code, 500, 'invalid_client: 500' or diag describe($r);
    my $log = vlog_since($mark);
    my ($line) = $log =~ /^(.*OBO310:.*)$/m;
    ok $line, 'OBO310 is in the virtual host\'s ErrorLog' or diag $log;
    like $line // '', qr/\[client 127\.0\.0\.1:\d+\]/, '... logged against the request ([client ...])';
    like $line // '', qr/Invalid client secret provided/, '... with the IdP\'s error text';
    unlike error_log_since($main), qr/OBO310:/, 'not in the main server\'s ErrorLog';
    unlike $log, qr/\Q$ut\E/, 'the token is not logged';
};

subtest 'debug: a rejected token\'s claims against the configured values' => sub {
    my $mark = vlog_mark();
    my $t = mint(tenant => 'xvlog', claims => { aud => 'api://someone-else' });
    expect_invalid_token(obo_get($V, '/api/x/env', token => $t), 'wrong audience: 401', realm => 'vlog');
    my $log = vlog_since($mark);
    my ($line) = $log =~ /^(.*OBO122:.*)$/m;
    ok $line, 'OBO122 at debug' or diag $log;
    like $line // '', qr/\[client 127\.0\.0\.1:\d+\]/, '... against the request';
    like $line // '', qr/audience not accepted/, '... says why';
    like $line // '', qr/aud "api:\/\/someone-else" \(accepted: api:\/\/test-api\)/,
        '... the token\'s aud next to the configured audience';
    like $line // '', qr{iss "https://127\.0\.0\.1:\d+/xvlog/v2\.0" \(accepted: https://127\.0\.0\.1:\d+/xvlog/v2\.0\)},
        '... iss and the accepted issuer';
    like $line // '', qr/kid "rsa-a", alg "RS256" \(allowed: /, '... kid and alg';
    unlike $log, qr/\Q$t\E/, 'the token is not logged';
    my ($payload) = $t =~ /^[^.]+\.([^.]+)\./;
    unlike $log, qr/\Q$payload\E/, 'not even its payload';

    $mark = vlog_mark();
    my $now = time;
    $t = mint(tenant => 'xvlog', claims => { exp => $now - 3600, nbf => $now - 7200, iat => $now - 7200 });
    expect_invalid_token(obo_get($V, '/api/x/env', token => $t), 'expired: 401', realm => 'vlog');
    $log = vlog_since($mark);
    like $log, qr/OBO122: .*token expired.*exp ${\($now - 3600)}, nbf ${\($now - 7200)} \(now \d+, skew \d+ s\)/,
        'expired: exp and nbf with the clock and the skew' or diag $log;

    $mark = vlog_mark();
    $t = mint(tenant => 'xvlog', claims => { iss => 'https://sts.windows.net/xvlog/' });
    expect_invalid_token(obo_get($V, '/api/x/env', token => $t), 'v1 issuer: 401', realm => 'vlog');
    $log = vlog_since($mark);
    like $log, qr/OBO122: .*issuer not accepted.*iss "https:\/\/sts\.windows\.net\/xvlog\/".*hint: an Entra v1 token/,
        'a v1 (sts.windows.net) issuer: the Entra v1/v2 hint' or diag $log;

    $mark = vlog_mark();
    $t = mint(tenant => 'xvlog', claims => { aud => "api://evil\x01\x1b[31m" . ('A' x 500) });
    expect_invalid_token(obo_get($V, '/api/x/env', token => $t), 'hostile aud: 401', realm => 'vlog');
    $log = vlog_since($mark);
    ($line) = $log =~ /^(.*OBO122:.*)$/m;
    ok $line && $line !~ /[\x00-\x08\x0b-\x1f\x7f]/, 'control characters are not logged' or diag $log;
    ok $line && $line =~ /aud "api:\/\/evil\[31mA+\.\.\."/ && $line !~ /A{300}/,
        'the value is cut short' or diag $line;
};

subtest 'realm without AuthName: the ServerName, not the Host header' => sub {
    my $req = HTTP::Request->new(GET => vhost_url($V, '/norealm/env'));
    $req->header(Host => 'evil.example');   # replaces the Host LWP would send
    my $r = OBOTest::ua()->request($req);
    is $r->code, 401, '401' or diag describe($r);
    my $c = www_authenticate($r) || { params => {} };
    isnt $c->{params}{realm} // '', 'evil.example', 'the realm is not the client\'s Host';
    like $c->{params}{realm} // '', qr/^(localhost|127\.0\.0\.1)$/, 'the realm is the ServerName';
};

done_testing();
