# SPDX-License-Identifier: Apache-2.0
# The Prometheus text format checker (t/lib/OBOTest/Prometheus.pm) is strict:
# it refuses each kind of malformed exposition, and the main test server's
# /obo-status?format=prometheus passes it with the right Content-Type and
# every family of the issue's list, JSON and HTML agreeing with it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Prometheus qw(prom_parse prom_value);
use JSON::PP ();

need_feature('authn');

my $good = <<'T';
# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1",y="q\"uo\\te\nnl"} 3
a_total{x="2"} 0
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1"} 2
h_bucket{le="+Inf"} 3
h_sum 4.5
h_count 3
T
my ($f, $e) = prom_parse($good);
is_deeply($e, [], 'a valid exposition passes') or diag explain $e;
is(prom_value($f, 'a_total', x => 2), 0, 'value lookup');
is(prom_value($f, 'a_total', x => 1, y => "q\"uo\\te\nnl"), 3, 'escaped label value decoded');

my %bad = (
    'no TYPE'            => [ "# HELP a A.\na 1\n", qr/without HELP and TYPE/ ],
    'no HELP'            => [ "# TYPE a counter\na 1\n", qr/without HELP and TYPE/ ],
    'TYPE after sample'  => [ "# HELP a A.\na 1\n# TYPE a counter\n", qr/after its samples|without/ ],
    'bad metric name'    => [ "# HELP a A.\n# TYPE a counter\n1a 1\n", qr/not a sample/ ],
    'bad label name'     => [ "# HELP a A.\n# TYPE a counter\na{1x=\"v\"} 1\n", qr/bad label name/ ],
    'bad escape'         => [ "# HELP a A.\n# TYPE a counter\na{x=\"\\t\"} 1\n", qr/bad escape/ ],
    'raw quote'          => [ "# HELP a A.\n# TYPE a counter\na{x=\"a\"b\"} 1\n", qr/expected ','|bad label/ ],
    'duplicate sample'   => [ "# HELP a A.\n# TYPE a counter\na 1\na 2\n", qr/twice/ ],
    'not a number'       => [ "# HELP a A.\n# TYPE a counter\na one\n", qr/not a sample/ ],
    'no final newline'   => [ "# HELP a A.\n# TYPE a counter\na 1", qr/newline/ ],
    'blank line'         => [ "# HELP a A.\n# TYPE a counter\n\na 1\n", qr/not a sample/ ],
    'interleaved'        => [ "# HELP a A.\n# TYPE a counter\n# HELP b B.\n# TYPE b counter\na 1\nb 1\na{x=\"1\"} 1\n", qr/not together/ ],
    'not cumulative'     => [ "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", qr/not cumulative/ ],
    'no +Inf'            => [ "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n", qr/no le="\+Inf"/ ],
    '+Inf != count'      => [ "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", qr/!= _count/ ],
    'no _sum'            => [ "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", qr/no _sum/ ],
    'le out of order'    => [ "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", qr/after/ ],
    'unknown type'       => [ "# HELP a A.\n# TYPE a thing\na 1\n", qr/unknown type/ ],
);
for my $case (sort keys %bad) {
    my ($text, $re) = @{ $bad{$case} };
    my (undef, $errs) = prom_parse($text);
    ok(@$errs && grep({ $_ =~ $re } @$errs), "refused: $case") or diag explain $errs;
}

# The main test server's page.
my $r = obo_get('default', '/obo-status?format=prometheus', token => undef);
is($r->code, 200, 'obo-status answers');
is($r->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8', 'Content-Type 0.0.4');
($f, $e) = prom_parse($r->decoded_content);
is_deeply($e, [], 'the module\'s exposition passes the strict checker') or diag explain $e;
my %want = (
    mod_auth_obo_requests_total => [ 'counter', result => [qw(accepted no_token invalid_token insufficient_scope no_keys preflight invalid_request step_up)] ],
    mod_auth_obo_single_flight_waits_total => [ 'counter' ],
    mod_auth_obo_jwks_refreshes_total => [ 'counter' ],
    mod_auth_obo_cache_backend_errors_total => [ 'counter', backend => [qw(shm memcached)] ],
    mod_auth_obo_sessions_total => [ 'counter', event => [qw(started ended limit evicted rated)] ],
    mod_auth_obo_validated_token_cache_total => [ 'counter', result => [qw(hit miss)] ],
    mod_auth_obo_validated_token_cache_deferred_total => [ 'counter' ],
    mod_auth_obo_idp_calls_avoided_total => [ 'counter', reason => [qw(remembered paused)] ],
    mod_auth_obo_key_sets_reused_total => [ 'counter', source => [qw(shared_cache state_file)] ],
    mod_auth_obo_dpop_total => [ 'counter', result => [qw(ok invalid_proof replayed use_dpop_nonce bearer_refused unavailable)] ],
    mod_auth_obo_idp_request_duration_seconds => [ 'histogram' ],
    mod_auth_obo_build_info => [ 'gauge' ],
);
# OpenMetrics parsers refuse a counter whose name does not end in _total.
for my $n (sort grep { $f->{$_}{type} eq 'counter' } keys %$f) {
    like($n, qr/_total$/, "counter $n ends in _total");
}
for my $n (sort keys %want) {
    my ($type, $label, $values) = @{ $want{$n} };
    is($f->{$n}{type}, $type, "$n is a $type");
    next unless $label;
    is_deeply([ sort map { $_->[1]{$label} } @{ $f->{$n}{samples} } ], [ sort @$values ],
              "$n: $label values");
}
for my $ep (qw(token jwks discovery)) {
    for my $o (qw(ok user_error client_error server_error timeout network)) {
        ok(defined prom_value($f, 'mod_auth_obo_idp_requests_total', endpoint => $ep, outcome => $o),
           "idp_requests_total{endpoint=$ep,outcome=$o}") or last;
    }
}
for my $lv (qw(l1 shared)) {
    for my $res (qw(hit miss)) {
        ok(defined prom_value($f, 'mod_auth_obo_token_cache_total', level => $lv, result => $res),
           "token_cache_total{level=$lv,result=$res}");
    }
}
my ($bi) = @{ $f->{mod_auth_obo_build_info}{samples} };
like($bi->[1]{version} // '', qr/^\d+\.\d+/, "build_info version $bi->[1]{version}");
is($bi->[2], 1, 'build_info is 1');

# JSON and HTML carry the same figures (no request in between changes them:
# the status page itself is not counted).
my $j = eval { JSON::PP::decode_json(obo_get('default', '/obo-status?format=json', token => undef)->decoded_content) };
ok($j, 'JSON parses') or diag $@;
is($j->{requests}{accepted}, prom_value($f, 'mod_auth_obo_requests_total', result => 'accepted'),
   'JSON accepted = Prometheus accepted');
is($j->{jwks_refreshes}, prom_value($f, 'mod_auth_obo_jwks_refreshes_total'), 'JSON jwks_refreshes');
is($j->{validated_token_cache}{hit},
   prom_value($f, 'mod_auth_obo_validated_token_cache_total', result => 'hit'),
   'JSON validated_token_cache hit');
is($j->{version}, $bi->[1]{version}, 'JSON version');
my $h = obo_get('default', '/obo-status', token => undef);
like($h->header('Content-Type'), qr{^text/html}, 'HTML by default');
my $html = $h->decoded_content;
like($html, qr{^<!DOCTYPE html>\n<html>.*</html>\n\z}s, 'a complete HTML document');
my $acc = $j->{requests}{accepted};
like(obo_get('default', '/obo-status?all=1', token => undef)->decoded_content,
     qr{<tr><td>requests</td><td>result=accepted</td><td>$acc</td></tr>}, 'HTML (all rows): accepted');
is(obo_get('default', '/obo-status?format=xml', token => undef)->code, 400, 'unknown format: 400');
# two that differ: refused, whichever comes first (the last one won before)
is(obo_get('default', '/obo-status?format=xml&format=json', token => undef)->code, 400,
   'an unknown format then a known one: 400');
is(obo_get('default', '/obo-status?format=json&format=health', token => undef)->code, 400,
   'two formats that differ: 400');
like(obo_get('default', '/obo-status?format=json&format=json', token => undef)->header('Content-Type'),
     qr{^application/json}, 'the same format twice: that format');
is(obo_post('default', '/obo-status', token => undef)->code, 405, 'POST: 405');

done_testing();
