# SPDX-License-Identifier: Apache-2.0
# mod_auth_obo_sessions_live (issue 19, part 3): the long-running sessions a
# server started or served whose lifetime has not run out and that it has
# not ended. Two servers share memcached: A opens sessions at /lr (idle
# lifetime 4 s), B serves only the obo-token handler. Checked in the
# Prometheus text (strict parser), the JSON and the page's summary line:
# three sessions started: 3; one ended through A's handler: 2; one served
# by B: B counts 1; that one ended through B: A counts it until it finds it
# gone (a 404 at its handler): 1; idle past 4 s: 0 at A; a server without
# sessions shows no gauge.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use JSON::PP ();
use LWP::UserAgent;
use OBOTest;
use OBOTest::Config;
use OBOTest::Httpd2;
use OBOTest::Prometheus qw(prom_parse prom_value);

need_feature('authn', 'exchange');
idp_reset();

my $T = 'slive' . int(rand(1e6));
my $lib = OBOTest::Config::libexecdir();
my $authz = "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
          . "\"$lib/mod_authz_host.so\"\n</IfModule>\n";
my $common = $authz . "<Location /token>\n    SetHandler obo-token\n    Require local\n"
           . "</Location>\n<Location /obo-status>\n    SetHandler obo-status\n</Location>\n";
my $a = eval { OBOTest::Httpd2->start(procs => 2, tenant => $T, name => 'slivea',
    extra => $common . "OBOSessionLifetime 4 60\n<Location /lr>\n    AuthType obo\n"
             . "    Require valid-user\n    OBOScope api://downstream/.default\n"
             . "    OBOLongRunning on\n</Location>\n") };
my $b = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'sliveb',
                                      extra => $common) };
my $c = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'slivec',
    extra => "<Location /obo-status>\n    SetHandler obo-status\n</Location>\n") };
END { $_ && $_->stop for ($a, $b, $c) }
ok $a && $b && $c, 'a server opening sessions, one serving only the handler, one without'
    or do { diag $@; done_testing(); exit 0 };

my $ua = LWP::UserAgent->new(timeout => 30);

sub live_prom {
    my ($h) = @_;
    my ($f, $e) = prom_parse($ua->get($h->url('/obo-status?format=prometheus'))->decoded_content);
    is_deeply $e, [], 'the exposition is well formed' or diag explain $e;
    return prom_value($f, 'mod_auth_obo_sessions_live');
}
sub live_json {
    my ($h) = @_;
    my $j = JSON::PP->new->decode($ua->get($h->url('/obo-status?format=json'))->decoded_content);
    return $j->{sessions_live};
}
sub summary_line {
    my ($h) = @_;
    my $html = $ua->get($h->url('/obo-status'))->decoded_content;
    return $html =~ /(\d+) live here/ ? $1 : undef;
}
sub open_session {
    my ($tok) = @_;
    my $r = $ua->get($a->url('/lr/backend/open'), Authorization => "Bearer $tok");
    return $r->code == 200 ? (json_body($r)->{header_map} // {})->{'obo-session-key'} : undef;
}

is live_prom($a), 0, 'A, before any session: the gauge is there and 0';
is live_json($a), 0, 'and the JSON says 0';
is live_prom($c), undef, 'a server without long-running sessions shows no gauge';
is live_json($c), undef, 'and null in the JSON';

my @toks = map { my $s = fresh_user("live$_"); mint(tenant => $T, claims => {
    sub => $s, oid => oid_of($s) }) } 1 .. 3;
my @keys = map { open_session($_) } @toks;
is scalar(grep { defined } @keys), 3, 'three users opened a session each at A';
# the same token again uses the session it opened: still 3
my @again = map { open_session($toks[0]) } 1 .. 2;
is_deeply \@again, [$keys[0], $keys[0]], 'the first token\'s later requests use its session';
is live_prom($a), 3, 'A counts 3 live sessions (Prometheus)';
is live_json($a), 3, 'the JSON says 3';
is summary_line($a), 3, 'the page says "3 live here"';

is $ua->delete($a->url('/token'), 'OBO-Session-Key' => $keys[0])->code, 204,
   'one session ended through A\'s handler';
is live_prom($a), 2, 'A counts 2';

is live_json($b), undef, 'B has served no session yet: no gauge';
is $ua->get($b->url('/token'), 'OBO-Session-Key' => $keys[1])->code, 200, 'B serves another';
is live_prom($b), 1, 'B counts the one it served';

# ended through B: A does not see it end, until A is asked for it (33A-F1)
is $ua->delete($b->url('/token'), 'OBO-Session-Key' => $keys[1])->code, 204,
   'that session ended through B\'s handler';
is live_prom($b), 0, 'B counts 0';
is live_prom($a), 2, 'A, which did not see it end, still counts it';
is $ua->get($a->url('/token'), 'OBO-Session-Key' => $keys[1])->code, 404,
   'asked for it, A finds it gone (404)';
is live_prom($a), 1, 'and no longer counts it';

# two OBO-Session-Key headers (httpd joins them): 400, not a 404 that would
# tell the backend the session ended (review 33B-F9)
my $two = $ua->get($a->url('/token'), 'OBO-Session-Key' => $keys[2],
                   'OBO-Session-Key' => $keys[2]);
is $two->code, 400, 'two OBO-Session-Key headers: 400';
like $two->decoded_content, qr/invalid_request/, 'invalid_request';
is $ua->get($a->url('/token'), 'OBO-Session-Key' => $keys[2])->code, 200,
   'the session is still there';

sleep 6;
is live_prom($a), 0, 'idle past their 4 s at A: none live';
is live_prom($b), 0, 'nor at B (the session kept its idle lifetime there)';
is $ua->get($b->url('/token'), 'OBO-Session-Key' => $keys[2])->code, 404,
   'and the session has really ended';

done_testing();
