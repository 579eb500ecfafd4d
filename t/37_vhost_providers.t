# SPDX-License-Identifier: Apache-2.0
# A virtual host that names its own identity provider has its own
# providers entirely (review 28B, medium): it inherits none of the main
# server's OBOIssuer, OBOTokenEndpoint, OBOIntrospectionURL or further
# providers, which belong to the main server's. Before, the virtual host
# kept the main server's OBOIssuer (its own IdP's tokens were refused and
# the main server's accepted) and sent its exchanges to the main server's
# OBOTokenEndpoint. A virtual host that names no provider still inherits
# them all.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use LWP::UserAgent;

need_feature('exchange');
idp_reset();
my $t = OBOTest::Services::t_dir();
my ($A, $B) = ('xvha', 'xvhb');
my $own = OBOTest::Httpd2::free_port();
my $inherit = OBOTest::Httpd2::free_port();
my $down = OBOTest::Httpd2::free_port();
my $closed = OBOTest::Httpd2::free_port();    # nothing listens there
my $extra = <<"EOF2";
OBOIssuer @{[ idp_url("/$A/v2.0") ]}
OBOTokenEndpoint @{[ idp_url("/$A/oauth2/v2.0/token") ]}
Alias /v "$t/htdocs"
<Location /v>
    AuthType obo
    Require valid-user
</Location>
Listen 127.0.0.1:$own
<VirtualHost 127.0.0.1:$own>
    OBOMetadataURL @{[ idp_url("/$B/v2.0/.well-known/openid-configuration") ]}
</VirtualHost>
Listen 127.0.0.1:$inherit
<VirtualHost 127.0.0.1:$inherit>
    ServerName inherits.example
</VirtualHost>
Listen 127.0.0.1:$down
<VirtualHost 127.0.0.1:$down>
    OBOMetadataURL https://127.0.0.1:$closed/nowhere/v2.0/.well-known/openid-configuration
    <Location /obo-status>
        SetHandler obo-status
    </Location>
</VirtualHost>
EOF2
my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => $A, name => 'vhostidp',
                               extra => $extra);
my $ua = LWP::UserAgent->new(timeout => 30);
sub get {
    my ($port, $path, $tok) = @_;
    return $ua->get("http://127.0.0.1:$port$path", Authorization => "Bearer $tok");
}
my $ta = user_token(fresh_user('vha'), $A);
my $tb = user_token(fresh_user('vhb'), $B);

is get($h->port, '/v/public.txt', $ta)->code, 200, 'main server: its own tenant\'s token';
is get($own, '/v/public.txt', $tb)->code, 200,
   'virtual host with its own OBOMetadataURL: its IdP\'s token passes';
is get($own, '/v/public.txt', $ta)->code, 401,
   '... and the main server\'s OBOIssuer does not apply there';
is get($inherit, '/v/public.txt', $ta)->code, 200,
   'a virtual host naming no provider inherits the main server\'s';

my $before_a = idp_counter("token\@$A");
my $before_b = idp_counter("token\@$B");
my $r = get($own, '/x/backend/x', $tb);
is $r->code, 200, 'an exchange at the virtual host with its own IdP: 200' or diag $r->as_string;
is idp_counter("token\@$B") - $before_b, 1, '... at its own IdP\'s token endpoint';
is idp_counter("token\@$A") - $before_a, 0, '... not at the main server\'s OBOTokenEndpoint';

# Review 28B: the health answer numbered a virtual host's providers from 1
# within the host, while the metrics and the HTML page number them across
# the server (the main server's provider is 1, the others follow).
my $hr = $ua->get("http://127.0.0.1:$down/obo-status?format=health");
is $hr->code, 503, 'a virtual host whose only IdP is unreachable: health 503';
my $html = $ua->get("http://127.0.0.1:$down/obo-status")->decoded_content // '';
my ($num) = ($hr->decoded_content // '') =~ /identity provider (\d+):/;
ok $num && $num > 1, "health names it by its server-wide number ($num), not 1"
    or diag $hr->decoded_content;

# Review 29: the main server's client id and secret went to the virtual
# host's own IdP without a word.
my $elog = do { local $/; open my $fh, '<', OBOTest::Services::logs_dir() . '/vhostidp_error_log'; <$fh> } // '';
like $elog, qr/OBO199: virtual host \S*:$own has an identity provider of its own but the main server's credentials/,
     'OBO199 at startup names the virtual host';

$h->stop;
done_testing();
