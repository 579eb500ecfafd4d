# SPDX-License-Identifier: Apache-2.0
# The gauges of /obo-status (issue 19, part 3) against real conditions: each
# memcached node says whether it answers now (one stopped: 0, the other 1);
# each provider's key set (keys, age, refresh interval) as the IdP gave it;
# an endpoint's last success and last failure (an IdP down at startup: the
# discovery failure, OBO010, is newer than any success; back: the success
# is newer); the token endpoint's durations. Prometheus text checked by the
# strict parser; the JSON carries the same state.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Services;
use OBOTest::Prometheus qw(prom_parse prom_value);
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $ua = LWP::UserAgent->new(timeout => 30);
my %p = OBOTest::Services::ports();
my $P2 = OBOTest::Httpd2::free_port();
OBOTest::Services::start_service('memcached2', port => $P2);
END { OBOTest::Services::stop_service('memcached2', port => $P2) if $P2 }
my $STATUS = "<Location /obo-status>\n    SetHandler obo-status\n</Location>\nOBOJWKSRefreshInterval 120\n";
my $t = OBOTest::Services::t_dir();

sub prom {
    my ($h) = @_;
    my $r = $ua->get($h->url('/obo-status?format=prometheus'));
    my ($f, $e) = prom_parse($r->decoded_content);
    # intermittent in multi-file runs: say what came back
    is_deeply $e, [], 'the exposition is well formed'
        or diag explain($e), "\nstatus ", $r->status_line, "\n",
                substr($r->decoded_content // '', 0, 600);
    return $f;
}
sub json { my ($h) = @_; return JSON::PP->new->decode($ua->get($h->url('/obo-status?format=json'))->decoded_content) }
sub wait_health {
    my ($h) = @_;
    my ($code, $t0) = (0, time);
    while (time - $t0 < 20) {
        $code = $ua->get($h->url('/obo-status?format=health'))->code;
        last if $code == 200;
        sleep 0.3;
    }
    return $code;
}

# a tenant no earlier test used: no saved state, nothing shared
my $tenant = 'xgauge' . int(rand(1e6));
idp_stop();
my $h = OBOTest::Httpd2->start(procs => 1, name => 'gauges', tenant => $tenant,
                               memcached => "127.0.0.1:$p{memcached},127.0.0.1:$P2",
                               extra => $STATUS);
END { $h->stop if $h }

subtest 'the IdP down at startup: the discovery failure is the newest event' => sub {
    my $f = prom($h);
    my $fail = prom_value($f, 'mod_auth_obo_idp_last_failure_timestamp_seconds',
                          provider => 1, endpoint => 'discovery');
    my $ok = prom_value($f, 'mod_auth_obo_idp_last_success_timestamp_seconds',
                        provider => 1, endpoint => 'discovery');
    ok defined $fail && $fail > time - 60, "a recent failure ($fail)";
    is $ok, 0, 'no success yet: 0';
    is prom_value($f, 'mod_auth_obo_jwks_age_seconds', provider => 1), -1, 'no key set: age -1';
    is prom_value($f, 'mod_auth_obo_jwks_keys', provider => 1), 0, 'no keys';
    my $d = json($h)->{providers}{1}{endpoints}{discovery};
    is $d->{last_failure_id}, 'OBO010', 'JSON: the message id of the failure';
    is $d->{last_failure_outcome}, 'network', 'JSON: no answer';
    # the page's verdicts (issue 19, part 1)
    my ($line) = grep { $_->{concern} eq 'identity provider 1 discovery' } @{ json($h)->{summary} };
    ok $line && $line->{verdict} eq 'failing' && $line->{reason} =~ /OBO010/,
       'summary: the discovery endpoint failing, with OBO010' or diag explain $line;
    my ($keys) = grep { $_->{concern} eq 'keys of identity provider 1' } @{ json($h)->{summary} };
    ok $keys && $keys->{verdict} eq 'failing', 'summary: no key set: failing';
    is json($h)->{verdict}, 'failing', 'the page\'s verdict: failing';
    my $html = $ua->get($h->url('/obo-status'))->decoded_content;
    like $html, qr{<td>identity provider 1 discovery</td><td class="v2">failing</td><td>failing: last failure OBO010, network}, 'HTML: the line, red';
};

subtest 'the IdP back: keys as it gave them, success newer than the failure' => sub {
    idp_start();
    is wait_health($h), 200, 'keys loaded';
    my $jwks = OBOTest::idp_get_json("/$tenant/discovery/v2.0/keys");
    my $f = prom($h);
    is prom_value($f, 'mod_auth_obo_jwks_keys', provider => 1), scalar @{ $jwks->{keys} },
       'the IdP\'s number of keys';
    my $age = prom_value($f, 'mod_auth_obo_jwks_age_seconds', provider => 1);
    ok $age >= 0 && $age < 30, "a fresh set ($age s)";
    is prom_value($f, 'mod_auth_obo_jwks_refresh_interval_seconds', provider => 1), 120,
       'OBOJWKSRefreshInterval';
    for my $ep (qw(discovery jwks)) {
        my $ok = prom_value($f, 'mod_auth_obo_idp_last_success_timestamp_seconds',
                            provider => 1, endpoint => $ep);
        my $fail = prom_value($f, 'mod_auth_obo_idp_last_failure_timestamp_seconds',
                              provider => 1, endpoint => $ep);
        ok $ok > $fail, "$ep: success ($ok) newer than failure ($fail)";
    }
};

subtest 'an exchange: the token endpoint answered, timed' => sub {
    my $r = $ua->get($h->url('/x/backend/g'),
                     Authorization => 'Bearer ' . user_token(fresh_user('gauge'), $tenant));
    is $r->code, 200, 'exchanged' or diag $r->decoded_content;
    my $f = prom($h);
    ok prom_value($f, 'mod_auth_obo_idp_last_success_timestamp_seconds',
                  provider => 1, endpoint => 'token') > time - 60, 'token endpoint answered';
    is prom_value($f, 'mod_auth_obo_provider_idp_request_duration_seconds_count',
                  provider => 1, endpoint => 'token'), 1, 'one timed request';
    my $t = json($h)->{providers}{1}{endpoints}{token};
    ok defined $t->{p50_seconds} && $t->{p50_seconds} > 0 && $t->{p95_seconds} >= $t->{p50_seconds},
       "JSON: median $t->{p50_seconds} s, p95 $t->{p95_seconds} s";
};

subtest 'memcached nodes: each says whether it answers now' => sub {
    my $f = prom($h);
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$p{memcached}"), 1, 'the first node answers';
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$P2"), 1, 'the second node answers';
    OBOTest::Services::stop_service('memcached2', port => $P2);
    $f = prom($h);
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$P2"), 0, 'stopped: 0';
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$p{memcached}"), 1, 'the other still 1';
    my ($n) = grep { $_->{node} eq "127.0.0.1:$P2" } @{ json($h)->{cache_nodes} };
    ok $n && !$n->{up}, 'JSON: that node down';
    my ($c) = grep { $_->{concern} eq 'token cache' } @{ json($h)->{summary} };
    ok $c && $c->{verdict} eq 'degraded' && $c->{reason} =~ /down: 127\.0\.0\.1:$P2\b/,
       'summary: the cache degraded, naming the node down' or diag explain $c;
    OBOTest::Services::start_service('memcached2', port => $P2);
    is prom_value(prom($h), 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$P2"), 1, 'started again: 1';
};

# Review 31: nodes that accept connections and never answer made each view
# take seconds per node (past Prometheus' scrape timeout); each node is
# now asked once, briefly, within a budget for the whole view.
subtest 'memcached nodes that never answer: the scrape stays short' => sub {
    require IO::Socket::INET;
    my @holes = map { IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                             Listen => 16, ReuseAddr => 1) or die $! } 1 .. 4;
    my $list = join ',', "127.0.0.1:$p{memcached}", map { '127.0.0.1:' . $_->sockport } @holes;
    my $s = OBOTest::Httpd2->start(procs => 1, name => 'gaugeholes', tenant => $tenant,
        memcached => $list, extra => "$STATUS\nOBOCacheTimeout 3000\n"
            . "<VirtualHost *:*>\n ServerName other.test\n OBOCache memcached $list\n"
            . " OBOCacheSecret file:$t/pki/cache-secret.txt\n</VirtualHost>\n");
    my $t0 = time;
    my $f = prom($s);
    my $took = time - $t0;
    ok $took < 3, sprintf('the scrape took %.1f s (4 silent nodes, OBOCacheTimeout 3 s)', $took);
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => "127.0.0.1:$p{memcached}"), 1, 'the real node: up';
    is prom_value($f, 'mod_auth_obo_cache_backend_up', backend => 'memcached',
                  node => '127.0.0.1:' . $holes[0]->sockport), 0, 'a silent node: down';
    my @samples = grep { $_->[0] eq 'mod_auth_obo_cache_backend_up' }
                  @{ $f->{mod_auth_obo_cache_backend_up}{samples} || [] };
    is scalar(@samples), 5, 'each node once, though two virtual hosts name them';
    $s->stop;
};

# Review 33B-F6: with more silent nodes than a view has time for, the same
# nodes were never asked (the real one, last, never in any view), and the
# summary said "failing" with a working node configured. Each view now
# starts one node further, and nodes not asked keep the verdict degraded.
subtest 'more silent nodes than a view can ask: counted, and asked in turn' => sub {
    require IO::Socket::INET;
    my @holes = map { IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                             Listen => 16, ReuseAddr => 1) or die $! } 1 .. 8;
    my $list = join ',', (map { '127.0.0.1:' . $_->sockport } @holes), "127.0.0.1:$p{memcached}";
    my $s = OBOTest::Httpd2->start(procs => 1, name => 'gaugeturn', tenant => $tenant,
        memcached => $list, extra => "$STATUS\nOBOCacheTimeout 1000\n");
    my ($seen_up, $verdicts, $unasked) = (0, '', 0);
    for my $view (1 .. 7) {
        my $j = json($s);
        $unasked = $j->{cache_nodes_not_asked} if $view == 1;
        my ($line) = grep { $_->{concern} eq 'token cache' } @{ $j->{summary} || [] };
        $verdicts .= ($line ? $line->{verdict} : '?') . ' ';
        $seen_up ||= grep { $_->{node} eq "127.0.0.1:$p{memcached}" && $_->{up} }
                     @{ $j->{cache_nodes} || [] };
        last if $seen_up && $view >= 2;
    }
    ok $unasked > 0, "a view had no time for some nodes ($unasked), and says so";
    unlike $verdicts, qr/failing/, "never 'failing' with nodes not asked ($verdicts)";
    ok $seen_up, 'the working node, last in the list, was asked in some view and is up';
    $s->stop;
};

# Review 33B-F18: an OBOJWKSFile broken at run time showed only in the log
# (OBO012): the status said OK, "given by the IdP", and no alert could fire.
# A file read is now the provider's jwks request: its last success, then
# its failure (OBO012), and a failing summary line.
subtest 'a JWKS file broken at run time shows as its provider\'s jwks failure' => sub {
    require OBOTest::Config;
    require File::Temp;
    my $dir = File::Temp::tempdir('jwksf-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
    my $file = "$dir/jwks.json";
    { open my $in, '<', "$t/pki/jwks-static.json" or die; open my $out, '>', $file or die;
      local $/; print {$out} scalar(<$in>); }
    chmod 0644, $file;
    my $conf = "OBOJWKSFile $file\nOBOIssuer https://x.example/\nOBOAudience api://test-api\n"
             . "<Location /api>\n AuthType obo\n Require valid-user\n</Location>\n$STATUS";
    my (@before, @after, $line);
    my $c = OBOTest::Config::check_config($conf, probe => sub {
        my ($port) = @_;
        my $get = sub { JSON::PP->new->decode($ua->get("http://127.0.0.1:$port/obo-status?format=json")
                                                ->decoded_content) };
        my $ep = sub { ($_[0]->{providers}{1}{endpoints} // {})->{jwks} // {} };
        @before = ($ep->($get->())->{last_success} // 0);
        { open my $out, '>', $file or die; print $out "garbage\n"; }
        # a kid the file does not have: the file is read again
        $ua->get("http://127.0.0.1:$port/api/x", Authorization => 'Bearer '
                 . mint(kid => 'rsa-b', sign_key => 'rsa-b'));
        my $j = $get->();
        my $e = $ep->($j);
        @after = ($e->{last_success} // 0, $e->{last_failure} // 0, $e->{last_failure_id} // '');
        ($line) = grep { $_->{concern} eq 'identity provider 1 jwks' } @{ $j->{summary} || [] };
        return 1;
    });
    ok $c->{started}, 'a server with OBOJWKSFile' or return diag $c->{output};
    ok $before[0] > 0, 'the file read at startup: its last success';
    ok $after[1] > $after[0], 'the broken file: a failure newer than the success';
    is $after[2], 'OBO012', 'its message id';
    is $line && $line->{verdict}, 'failing', 'the summary: identity provider 1 jwks failing';
};

# Review 39A-F2: with OBOPreloadKeys off a process loads a provider's keys at
# its first token; before that the page said "failing" and the age gauge -1
# fired the critical OBONoKeySet alert, while its tokens got 200.
subtest 'OBOPreloadKeys off: a provider not needed yet is not failing' => sub {
    require OBOTest::Config;
    my $conf = "OBOJWKSFile $t/pki/jwks-static.json\nOBOIssuer https://x.example/\n"
             . "OBOAudience api://test-api\nOBOPreloadKeys Off\n"
             . "<Location /api>\n AuthType obo\n Require valid-user\n</Location>\n$STATUS";
    my $ka = LWP::UserAgent->new(timeout => 30, keep_alive => 1);   # one process throughout
    my %got;
    my $c = OBOTest::Config::check_config($conf, probe => sub {
        my ($port) = @_;
        my $get = sub { $ka->get("http://127.0.0.1:$port/obo-status?format=$_[0]")->decoded_content };
        $got{json0} = JSON::PP->new->decode($get->('json'));
        $got{prom0} = $get->('prometheus');
        $got{api} = $ka->get("http://127.0.0.1:$port/api/x", Authorization => 'Bearer '
                             . mint(claims => { iss => 'https://x.example/' }))->code;
        $got{json1} = JSON::PP->new->decode($get->('json'));
        return 1;
    });
    ok $c->{started}, 'a server with OBOPreloadKeys Off' or return diag $c->{output};
    my ($k0) = @{ $got{json0}{keys} || [] };
    ok $k0 && $k0->{not_loaded_yet}, 'before its first token: not_loaded_yet' or diag explain($k0);
    my ($line) = grep { $_->{concern} eq 'keys of identity provider 1' } @{ $got{json0}{summary} || [] };
    is $line && $line->{verdict}, 'OK', '... its summary line OK, not failing' or diag explain($line);
    isnt $got{json0}{verdict}, 'failing', '... nor the page' or diag explain($got{json0}{summary});
    unlike $got{prom0}, qr/^mod_auth_obo_jwks_age_seconds\{provider="1"\}/m,
           '... and no age gauge for the OBONoKeySet alert';
    # review 40B-F10: nor a key count of 0 for an alert on jwks_keys == 0
    unlike $got{prom0}, qr/^mod_auth_obo_jwks_keys\{provider="1"\}/m, '... nor a key count';
    like $got{prom0}, qr/^mod_auth_obo_jwks_refresh_interval_seconds\{provider="1"\} \d+$/m,
         '... its refresh interval stays (configuration)';
    ok $got{api} != 503, "its token: $got{api}, not 503";
    my ($k1) = @{ $got{json1}{keys} || [] };
    ok $k1 && !$k1->{not_loaded_yet} && $k1->{age_seconds} >= 0, 'after it: loaded, an age'
        or diag explain($k1);
};

# The page (issue 19, part 1): zero rows folded unless ?all=1, a meta
# refresh on asking, its own strict Content-Security-Policy allowing only its
# inline style (by hash): no script, no external resource.
subtest 'the HTML page: folded rows, refresh, strict CSP' => sub {
    my $r = $ua->get($h->url('/obo-status'));
    my $html = $r->decoded_content;
    unlike $html, qr{<td>requests</td><td>result=step_up</td><td>0</td>}, 'a zero row is folded';
    like $html, qr{<td>requests</td><td>result=accepted</td><td>[1-9]}, 'a non-zero row is shown';
    like $ua->get($h->url('/obo-status?all=1'))->decoded_content,
         qr{<td>requests</td><td>result=step_up</td><td>0</td>}, '?all=1 shows it';
    like $ua->get($h->url('/obo-status?refresh=15'))->decoded_content,
         qr{<meta http-equiv="refresh" content="15">}, '?refresh=15: meta refresh';
    unlike $html, qr{http-equiv="refresh"}, 'none unless asked';
    my ($style) = $html =~ m{<style>(.*?)</style>}s;
    my $csp = $r->header('Content-Security-Policy') // '';
    require Digest::SHA;
    my $hash = Digest::SHA::sha256_base64($style // '');
    $hash .= '=' while length($hash) % 4;
    like $csp, qr{^default-src 'none'; style-src 'sha256-\Q$hash\E'}, 'CSP: nothing but this style';
    unlike $html, qr{<script|src=|<link}i, 'no script, no external resource';
    like $html, qr{<h3>Identity provider 1, token endpoint</h3>}, 'latency as a distribution';
    unlike $html, qr{le=\+Inf}, 'not as raw cumulative buckets';
};

# The shipped alert rules name only metrics this server exposes (promtool
# checks their syntax and behaviour in make check, not the names).
subtest 'every metric of docs/prometheus-alerts.yml is exposed' => sub {
    my $file = OBOTest::Services::t_dir() . '/../docs/prometheus-alerts.yml';
    open my $fh, '<', $file or die "$file: $!";
    my %named = map { $_ => 1 } (do { local $/; <$fh> } =~ /\b(mod_auth_obo_\w+)/g);
    ok scalar(keys %named) >= 6, scalar(keys %named) . ' metrics named';
    my $f = prom($h);
    for my $m (sort keys %named) {
        (my $fam = $m) =~ s/_(?:bucket|sum|count)$// if !$f->{$m};
        ok $f->{$fam // $m} && @{ $f->{$fam // $m}{samples} }, "$m is exposed";
    }
};

idp_reset();
done_testing();
