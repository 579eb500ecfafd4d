# SPDX-License-Identifier: Apache-2.0
# A caller who needs consent (or MFA, or whose assertion the IdP rejects)
# must not make the module call the IdP on every request: such failures are
# remembered per cache key for OBONegativeCacheTime (vhost obo_x_neg: 6 s,
# memcached shared with a second httpd; obo_x_neg_local: no cache, per
# process) and answered exactly as before without an IdP call.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();
use OBOTest::Httpd2;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_x_neg';

sub ut { my ($sub, $tenant) = @_; return mint(tenant => $tenant // 'xneg', claims => { sub => $sub }) }

# what the caller sees: status, challenge, body
sub answer {
    my ($r) = @_;
    return join "\n", $r->code, $r->header('WWW-Authenticate') // '', $r->content // '';
}

sub same_answers {
    my ($name, $want, @r) = @_;
    my @diff = grep { answer($_) ne $want } @r;
    ok !@diff, "$name: " . scalar(@r) . ' identical answers' or diag answer($diff[0]);
}

for my $case (['consent_required', 20], ['interaction_required', 5], ['invalid_grant', 5]) {
    my ($fault, $n) = @$case;
    subtest "$fault: $n sequential requests, 1 IdP call" => sub {
        my $sub = fresh_user("neg-$fault");
        my $t = ut($sub);
        idp_set('token_fault@xneg' => $fault);
        my @r = map { obo_get($V, '/x/env', token => $t) } 1 .. $n;
        idp_set('token_fault@xneg' => '');
        expect_status($r[0], 401, 'first: 401');
        same_answers($fault, answer($r[0]), @r);
        is token_calls($sub), 1, 'one IdP call';
        like answer($r[0]), $fault eq 'invalid_grant' ? qr/invalid_token/ : qr/"error":"\Q$fault\E"/,
            'the IdP\'s answer, as without the memory';
    };
}

subtest 'remembered for OBONegativeCacheTime only, per user and token' => sub {
    my $sub = fresh_user('neg-ttl');
    my $t = ut($sub);
    idp_set('token_fault@xneg' => 'consent_required');
    expect_status(obo_get($V, '/x/env', token => $t), 401, 'consent required: 401');
    my $other = fresh_user('neg-other');
    idp_set('token_fault@xneg' => '');
    expect_ok(obo_get($V, '/x/env', token => ut($other)), 'another user is not affected', user => $other);
    expect_status(obo_get($V, '/x/env', token => $t), 401, 'the user has consented, within 6 s: still 401');
    is token_calls($sub), 1, 'no second IdP call';
    sleep 6.5;
    expect_ok(obo_get($V, '/x/env', token => $t), 'after 6 s: the IdP is asked again, 200', user => $sub);
    is token_calls($sub), 2, 'second IdP call';
};

subtest 'IdP failures that are not the user\'s are not remembered' => sub {
    my $sub = fresh_user('neg-500');
    my $t = ut($sub);
    idp_set('token_fault@xneg' => '500');
    expect_status(obo_get($V, '/x/env', token => $t), 502, 'IdP 500: 502');
    idp_set('token_fault@xneg' => '');
    expect_ok(obo_get($V, '/x/env', token => $t), 'next request: 200', user => $sub);
};

subtest 'no shared cache: remembered in the process' => sub {
    my $sub = fresh_user('neg-local');
    my $t = ut($sub, 'xnegl');
    idp_set('token_fault@xnegl' => 'consent_required');
    my @r = map { obo_get('obo_x_neg_local', '/x/env', token => $t) } 1 .. 10;
    idp_set('token_fault@xnegl' => '');
    expect_status($r[0], 401, 'OBOCache none: consent required is a 401');
    my $procs = max_procs();
    if ($procs == 1) {
        same_answers('OBOCache none', answer($r[0]), @r);
    }
    else {
        # each process remembers its own IdP answer, whose description
        # carries the IdP's timestamp and trace id: the same error, not
        # byte for byte the same body
        my @err = map { $_->code . ' ' . (eval { JSON::PP->new->decode($_->content)->{error} }
                                           // '') } @r;
        is_deeply \@err, [("401 consent_required") x @r], "OBOCache none, $procs processes: "
            . scalar(@r) . ' answers with the same status and error';
    }
    ok token_calls($sub) <= $procs, token_calls($sub) . " IdP call(s), at most one per process ($procs)";
};

my $h2 = eval { OBOTest::Httpd2->start(procs => 2, tenant => 'xneg', name => 'httpd2neg') };
ok $h2, 'second httpd started (tenant xneg, same memcached)' or diag $@;

SKIP: {
    skip 'no second httpd', 1 unless $h2;
    subtest 'shared by two servers through memcached' => sub {
        my $sub = fresh_user('neg-two');
        my $t = ut($sub);
        idp_set('token_fault@xneg' => 'consent_required');
        my $r1 = obo_get($V, '/x/backend/a', token => $t);
        my $ua = LWP::UserAgent->new(timeout => 30);
        my @r2 = map { $ua->get($h2->url('/x/backend/a'), Authorization => "Bearer $t") } 1 .. 10;
        idp_set('token_fault@xneg' => '');
        expect_status($r1, 401, 'server 1: 401');
        ok !(grep { $_->code != 401 } @r2), 'server 2: 10 x 401';
        my $body = sub { $_[0]->content // '' };
        ok !(grep { $body->($_) ne $body->($r1) } @r2), 'server 2 answers with the same body'
            or diag $body->($r2[0]);
        is token_calls($sub), 1, 'one IdP call between the two servers';
    };
}

$h2->stop if $h2;
idp_reset();
done_testing();
