# SPDX-License-Identifier: Apache-2.0
# An IdP URL may carry a key in its query string (an Azure Functions
# ?code=, a signed URL): the module uses it as configured but never writes
# the query to the error log (it shows "?..." in its place). Review 23/24
# low: the token endpoint's query reached OBO301, OBO302 and OBO311.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use LWP::UserAgent;

need_feature('authn', 'exchange');
idp_reset();
my $idp = OBOTest::idp_port();
my $SECRET = 'QUERYKEY' . int(rand(1e9));
# a virtual host whose discovery URL carries a key, with the status page
my $vport = OBOTest::Httpd2::free_port();
my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'urlsecret', extra =>
    "OBOTokenEndpoint https://127.0.0.1:$idp/xmc/oauth2/v2.0/token?code=$SECRET&x=1\n"
    . "Listen 127.0.0.1:$vport\n<VirtualHost 127.0.0.1:$vport>\n"
    . "  OBOMetadataURL https://127.0.0.1:$idp/xmc/v2.0/.well-known/openid-configuration"
    . "?code=${SECRET}md\n"
    . "  <Location /api>\n    AuthType obo\n    Require valid-user\n  </Location>\n"
    . "  <Location /obo-status>\n    SetHandler obo-status\n  </Location>\n</VirtualHost>\n");
my $ua = LWP::UserAgent->new(timeout => 30);
my $log_file = OBOTest::Services::logs_dir() . '/urlsecret_error_log';
sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return <$fh> }

my $sub = fresh_user('urlq');
my $r = $ua->get($h->url('/x/backend/a'), Authorization => 'Bearer ' . mint(tenant => 'xmc', claims => { sub => $sub }));
is $r->code, 200, 'the exchange works with the configured URL (query and all)' or diag describe($r);

idp_set('token_fault@xmc' => '500');
my $r2 = $ua->get($h->url('/x/backend/b'),
                  Authorization => 'Bearer ' . mint(tenant => 'xmc', claims => { sub => fresh_user('urlq2') }));
is $r2->code, 502, 'an IdP failure: 502' or diag describe($r2);
idp_set('token_fault@xmc' => '');

# review 25: the status page listed the discovery URL whole
my $va = LWP::UserAgent->new(timeout => 30);
is $va->get("http://127.0.0.1:$vport/api",
            Authorization => 'Bearer ' . mint(tenant => 'xmc'))->code, 404,
   'the virtual host with a key in its discovery URL validates (404: no such file)';
my $page = $va->get("http://127.0.0.1:$vport/obo-status")->decoded_content // '';
like $page, qr{openid-configuration\?\.\.\.}, 'the status page shows the discovery URL with "?..."';
unlike $page, qr/\Q$SECRET\E/, '... and not the key';
$h->stop;

my $log = slurp($log_file);
like $log, qr{OBO301: token request to https://127\.0\.0\.1:\d+/xmc/oauth2/v2\.0/token\?\.\.\.: },
     'OBO301 names the endpoint with "?..." for its query';
like $log, qr{OBO3(02|1\d): .*token\?\.\.\.}, 'so does the failure';
unlike $log, qr/\Q$SECRET\E/, 'the key in the query string is in no log line';
idp_reset();
done_testing();
