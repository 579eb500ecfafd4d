#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# The documentation must say what the code does. TAP tests, run by `make check`:
#
#  - directives: each entry of docs/directives.md against the command table
#    (src/httpd/mod_auth_obo*.c): its Context row against the table's req_override,
#    every numeric range its setter enforces (parse_int, parse_secs_ms,
#    parse_duration) against the "A to B" ranges the entry states, and its
#    Default row against the defaults the code applies (auth_obo_ival(x->field,
#    VALUE), `x->field ? x->field : "value"`, keyword tables, FLAG on/off);
#    every directive is listed in the topic index;
#  - message ids: every OBOnnn the code logs has a row in
#    docs/troubleshooting.md, at the level(s) the code logs it (where the
#    level is a constant in the logging statement), and every documented id
#    is still logged;
#  - tables: in README.md and docs/*.md no table row follows a blank line
#    (a Markdown table ends at a blank line: the rest renders as text);
#  - links: every relative link of README.md and docs/*.md names a file that
#    is installed with them (debian/*.docs) and, with #anchor, a heading of it.
#
# Usage: check_docs.pl [DOCS_ROOT]. DOCS_ROOT (default: the source tree) holds
# README.md and docs/; the self-test (check_docs_selftest.sh) points it at a
# copy with a planted mistake. The code is always read from $srcdir/src.
use strict;
use warnings;

my $top = $ENV{srcdir} // do { my $d = $0; $d =~ s{/[^/]*$}{} or $d = '.'; "$d/.." };
my $root = $ARGV[0] // $top;

my @results;
# Callers pass a scalar: a failed match in list context would be an empty list.
sub check { my ($ok, $what) = @_; push @results, [$ok ? 1 : 0, $what]; }

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "cannot read $f: $!\n";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub strip_comments {
    my ($s) = @_;
    # Strings first (kept), so that "/*" inside a string is not a comment.
    $s =~ s{("(?:\\.|[^"\\])*")|/\*.*?\*/|//[^\n]*}{defined $1 ? $1 : ' '}gse;
    return $s;
}

# ---- the code ---------------------------------------------------------------

my @srcfiles = sort glob(join " ", map { ("$top/$_/*.c", "$top/$_/*.h") }
                          qw(src src/httpd src/idp src/cache src/telemetry src/jose));
my %code;
$code{$_} = strip_comments(slurp($_)) for @srcfiles;
my @glue = grep { m{/mod_auth_obo[^/]*\.c$} } @srcfiles;
my $glue = join("\n", map { $code{$_} } @glue);
my $all = join("\n", map { $code{$_} } @srcfiles);

my %macro;
while ($all =~ /^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+([^\n]+)/mg) {
    $macro{$1} //= $2;
}

# A constant integer expression of the code, or undef.
sub value_of {
    my ($e, $depth) = @_;
    $depth //= 0;
    return undef if $depth > 5;
    $e =~ s/^\s+|\s+$//g;
    $e =~ s/\b(\w+)\b/exists $macro{$1} && $1 !~ m{^\d} ? "(" . $macro{$1} . ")" : $1/ge
        for 1 .. 3;
    $e =~ s/\b(\d+)[uUlL]+\b/$1/g;
    return undef unless $e =~ m{^[\d\s.()*/+-]+$};
    my $v = eval $e;
    return $@ ? undef : $v;
}

sub function_body {
    my ($name) = @_;
    for my $f (@srcfiles) {
        # A definition: its line starts with the return type (not a call site).
        return $1 if $code{$f} =~ /^[A-Za-z_][\w \t*]*\b\Q$name\E\s*\([^;{]*\)\s*\{(.*?)\n\}/ms;
    }
    return '';
}

my %flag_context = (
    RSRC_CONF => ['server config', 'virtual host'],
    ACCESS_CONF => ['directory'],
);
my @context_order = ('server config', 'virtual host', 'directory', '.htaccess');

sub context_of {
    my ($override) = @_;
    my $e = $override;
    $e =~ s/\b(\w+)\b/exists $macro{$1} ? "($macro{$1})" : $1/ge for 1 .. 3;
    my %c;
    for my $flag ($e =~ /\b([A-Z][A-Z_]+)\b/g) {
        if ($flag_context{$flag}) {
            $c{$_} = 1 for @{ $flag_context{$flag} };
        }
        elsif ($flag =~ /^OR_/) {
            $c{'directory'} = $c{'.htaccess'} = 1;
        }
    }
    return join(', ', grep { $c{$_} } @context_order);
}

# The command table: name -> kind, setter, info, context.
my (%cmd, @cmd_order);
while ($glue =~ /AP_INIT_(\w+)\s*\(\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*((?:[^,()]|\([^()]*\))+?)\s*,
                 \s*([^,]+?)\s*,/gx) {
    my ($kind, $name, $setter, $info, $ovr) = ($1, $2, $3, $4, $5);
    my ($field) = $info =~ /^SRV\((\w+)\)$/;
    my $context = context_of($ovr);
    # a setter that refuses virtual hosts (one value for the whole server)
    $context =~ s/, virtual host// if function_body($setter) =~ /cmd->server->is_virtual/;
    $cmd{$name} = { kind => $kind, setter => $setter, field => $field,
                    context => $context, override => $ovr };
    push @cmd_order, $name;
}

# Defaults the code applies: field -> [values].
my (%dflt_num, %dflt_expr, %dflt_str);
while ($all =~ /auth_obo_ival\(\s*\w+->(\w+)\s*,\s*((?:[^()]|\([^()]*\))+)\)/g) {
    my ($f, $e) = ($1, $2);
    my $v = value_of($e);
    if (defined $v) { $dflt_num{$f}{$v} = 1; }
    else { $dflt_expr{$f}{$e} = 1; }
}
while ($all =~ /\b(?:sc|d|main_sc)->(\w+)\s*\?\s*(?:sc|d|main_sc)->\1\s*:\s*"([^"]*)"/g) {
    $dflt_str{$1}{$2} = 1;
}

# Ranges a setter enforces, in the units the value is written in.
sub ranges_of {
    my ($c) = @_;
    my $body = function_body($c->{setter});
    my @r;
    # Per-field branches of a shared setter (if (off == offsetof(..., field))).
    my $branch_hit = 0;
    while ($body =~ /if\s*\(\s*off\s*==\s*\(int\)\s*offsetof\(\s*\w+\s*,\s*(\w+)\s*\)\s*\)\s*
                     \{(.*?)\}/gsx) {
        my ($f, $b) = ($1, $2);
        next unless defined $c->{field} && $f eq $c->{field};
        $branch_hit = 1;
        push @r, ranges_in($b);
    }
    $body =~ s/if\s*\(\s*off\s*==\s*\(int\)\s*offsetof\([^)]*\)\s*\)\s*\{.*?\}//gs;
    push @r, ranges_in($body) unless $branch_hit;
    return @r;
}

sub ranges_in {
    my ($b) = @_;
    my @r;
    while ($b =~ /\bparse_int\(\s*cmd\s*,\s*[^,]+,\s*([^,]+?)\s*,\s*([^,]+?)\s*,/g) {
        push @r, [value_of($1), value_of($2), "parse_int($1, $2)"];
    }
    for my $fn (qw(parse_secs_ms parse_duration)) {
        next unless $b =~ /\b$fn\(/;
        my $fb = function_body($fn);
        if ($fb =~ /\bv\s*<\s*([\d.]+)\s*\|\|\s*v\s*>\s*([\d\s*]+?)\s*(?:\/\s*unit\s*)?\)/) {
            push @r, [value_of($1), value_of($2), "$fn: $1 to $2"];
        }
        else {
            push @r, [undef, undef, "$fn (range not found in its body)"];
        }
    }
    return @r;
}

# Keyword a constant is written as in the setter (keyword tables, strcasecmp).
sub keyword_of {
    my ($c, $const) = @_;
    my $body = function_body($c->{setter});
    return $1 if $body =~ /\{\s*"([^"]+)"\s*,\s*\Q$const\E\s*\}/;
    return $1 if $body =~ /"([^"]+)"\s*\)\s*\)\s*\{\s*[^;{}]*=\s*\Q$const\E\s*;/;
    return undef;
}

# ---- the directive reference --------------------------------------------------

my $dirdoc = slurp("$root/docs/directives.md");
my (%doc, @doc_order);
{
    my @parts = split /^## (\S+)[ \t]*\n/m, $dirdoc;
    shift @parts;
    while (my ($name, $text) = splice(@parts, 0, 2)) {
        next unless $name =~ /^OBO\w+$/;
        my %row;
        while ($text =~ /^\|\s*(\w[\w ]*?)\s*\|\s*(.*?)\s*\|\s*$/mg) {
            $row{$1} //= $2;
        }
        $doc{$name} = { text => $text, row => \%row };
        push @doc_order, $name;
    }
}

my %unit = (s => 1, m => 60, h => 3600, d => 86400);
my $num = qr/\d[\d,]*(?:\.\d+)?/;

# "A to B", "A-B", "A–B", with optional s/m/h/d units: [a, b] in base units.
sub doc_ranges {
    my ($text) = @_;
    my @r;
    while ($text =~ /(?<![\w.])($num)\s*([smhd])?\s*(?:to|-|–)\s*($num)\s*([smhd])?(?![\w])/g) {
        my ($a, $au, $b, $bu) = ($1, $2, $3, $4);
        s/,//g for $a, $b;
        push @r, [$a * ($au ? $unit{$au} : 1), $b * ($bu ? $unit{$bu} : 1)];
    }
    return @r;
}

sub doc_default_values {
    my ($text) = @_;
    my @v;
    while ($text =~ /(?<![\w.])($num)\s*([smhd])?(?![\w])/g) {
        my ($n, $u) = ($1, $2);
        $n =~ s/,//g;
        push @v, $n * ($u ? $unit{$u} : 1);
    }
    return @v;
}

sub close_to { my ($a, $b) = @_; return abs($a - $b) <= 1e-9 * (abs($a) + abs($b) + 1); }

for my $name (@cmd_order) {
    my $c = $cmd{$name};
    my $d = $doc{$name};
    next unless $d;    # check_directives.sh reports missing entries
    my $row = $d->{row};

    check(($row->{Context} // '') eq $c->{context},
          "$name: Context is '" . ($row->{Context} // '(none)') . "', the command table "
          . "($c->{override}) allows '$c->{context}'");
    my $htaccess = $c->{context} =~ /htaccess/;
    check($htaccess ? defined $row->{Override} : !defined $row->{Override},
          "$name: an Override row " . ($htaccess ? "is needed" : "is wrong: not allowed in "
                                     . ".htaccess"));

    # Ranges.
    my @docr = doc_ranges($d->{text});
    for my $r (ranges_of($c)) {
        my ($min, $max, $how) = @$r;
        if (!defined $min || !defined $max) {
            check(0, "$name: cannot evaluate the range of the code ($how)");
            next;
        }
        my $ok = grep { close_to($_->[0], $min) && close_to($_->[1], $max) } @docr;
        check($ok, "$name: the code accepts $min to $max ($how): docs/directives.md says so");
    }

    # Defaults.
    my $dt = $row->{Default} // '';
    my @fields = grep { defined } ($c->{field});
    if (!@fields) {
        my $body = function_body($c->{setter});
        my %seen;
        @fields = grep { !$seen{$_}++ } $body =~ /->(\w+)/g;
    }
    my $flag = $c->{kind} eq 'FLAG';
    for my $f (@fields) {
        for my $v (sort keys %{ $dflt_num{$f} // {} }) {
            my $ok;
            if ($flag) {
                my $kw = $v ? 'on' : 'off';
                $ok = $dt =~ /\b\Q$kw\E\b/;
                check($ok, "$name: default $kw in the code ($f = $v): Default says '$dt'");
                next;
            }
            my @dv = doc_default_values($dt);
            $ok = grep { close_to($_, $v) || ($f =~ /_ms$/ && close_to($_ * 1000, $v)) } @dv;
            check($ok, "$name: default $v in the code ($f): Default says '$dt'");
        }
        for my $e (sort keys %{ $dflt_expr{$f} // {} }) {
            my $kw = keyword_of($c, $e);
            if (defined $kw) {
                check(scalar $dt =~ /(?<![\w-])\Q$kw\E(?![\w-])/i,
                      "$name: default $kw in the code ($f = $e): Default says '$dt'");
            }
            else {
                check(1, "$name: default of $f is computed ($e), not compared # SKIP");
            }
        }
        for my $s (sort keys %{ $dflt_str{$f} // {} }) {
            check(scalar $dt =~ /(?<![\w-])\Q$s\E(?![\w-])/,
                  "$name: default \"$s\" in the code ($f): Default says '$dt'");
        }
    }
}

# URL directives: the setter refuses everything but https (check_url).
if (function_body('check_url') =~ /strcasecmp\(\s*u\.scheme\s*,\s*"https"\s*\)/) {
    for my $name (grep { $cmd{$_}{setter} && $doc{$_} } @cmd_order) {
        next unless function_body($cmd{$name}{setter}) =~ /\bcheck_url\(/;
        my $t = $doc{$name}{text};
        check(scalar($t =~ /`https`/ && $t !~ /`http` or|or `http`(?! included)/),
              "$name: the code accepts https URLs only: the entry says so and allows no http");
    }
}

# The unknown-kid refetch window, wherever the docs state it.
if (defined(my $secs = value_of('OBO_PROVIDER_REFETCH_SECS'))) {
    for my $f ("$root/README.md", glob("$root/docs/*.md"), "$top/conf/auth_obo.conf") {
        next unless -f $f;
        (my $rel = $f) =~ s{^\Q$root\E/|^\Q$top\E/}{};
        for my $para (split /\n\s*\n|\n(?=\|)/, slurp($f)) {
            next unless $para =~ /unknown[\s`]+kid|refetch/i;
            while ($para =~ /once\s+per\s+(\d+)\s*(?:s|seconds?)\b/g) {
                check($1 == $secs, "$rel: unknown-kid refetch: at most once per $secs s in the "
                      . "code (OBO_PROVIDER_REFETCH_SECS), the docs say $1");
            }
        }
    }
}

# The one list default: OBOAlgorithms.
if ($all =~ /default_algs\[\]\s*=\s*\{([^}]*)\}/ && $doc{OBOAlgorithms}) {
    my @algs = $1 =~ /"([^"]+)"/g;
    my ($dt) = ($doc{OBOAlgorithms}{row}{Default} // '') =~ /`OBOAlgorithms ([^`]*)`/;
    check(defined $dt && $dt eq join(' ', @algs),
          "OBOAlgorithms: default '@algs' in the code: Default says '" . ($dt // '') . "'");
}

# The topic index names every directive.
{
    my ($index) = $dirdoc =~ /^Directives by topic:\n(.*?)\n\n/ms;
    $index //= '';
    for my $name (@doc_order) {
        my $anchor = lc $name;
        check(scalar $index =~ /\[\Q$name\E\]\(#\Q$anchor\E\)/,
              "$name: listed in 'Directives by topic'");
    }
}

# ---- message ids ----------------------------------------------------------------

my %level_name = (
    APLOG_EMERG => 'emerg', APLOG_ALERT => 'alert', APLOG_CRIT => 'crit',
    APLOG_ERR => 'error', APLOG_WARNING => 'warn', APLOG_NOTICE => 'notice',
    APLOG_INFO => 'info', APLOG_DEBUG => 'debug', OBO_LOG_ERR => 'error',
    OBO_LOG_WARN => 'warn', OBO_LOG_NOTICE => 'notice', OBO_LOG_INFO => 'info',
    OBO_LOG_DEBUG => 'debug',
);
my (%id_seen, %id_level);
for my $stmt (split /;/, $all) {
    my @ids = $stmt =~ /"(OBO\d{3})/g;
    next unless @ids;
    $id_seen{$_} = 1 for @ids;
    my @lv = map { $level_name{$_} } grep { $level_name{$_} }
             $stmt =~ /\b(APLOG_[A-Z]+|OBO_LOG_[A-Z]+)\b/g;
    next unless @lv && @ids == 1;
    $id_level{ $ids[0] }{$_} = 1 for @lv;
}

my $trouble = slurp("$root/docs/troubleshooting.md");
my %doc_level;
while ($trouble =~ /^\|\s*(OBO\d{3})\s*\|\s*([^|]*?)\s*\|/mg) {
    my ($id, $lv) = ($1, $2);
    $doc_level{$id}{$_} = 1 for grep { length } split /[\s,\/]+/, $lv;
}
for my $id (sort keys %id_seen) {
    if (!$doc_level{$id}) {
        check(0, "$id is logged by src/ but has no row in docs/troubleshooting.md");
        next;
    }
    if (!$id_level{$id}) {
        check(1, "$id documented (level not a constant of its logging statement) # SKIP");
        next;
    }
    my $want = join(', ', sort keys %{ $id_level{$id} });
    my $have = join(', ', sort keys %{ $doc_level{$id} });
    check($want eq $have, "$id: logged at '$want', docs/troubleshooting.md says '$have'");
}
for my $id (sort keys %doc_level) {
    check($id_seen{$id}, "$id: documented in docs/troubleshooting.md and logged by src/");
}

# ---- tables and links --------------------------------------------------------------

my @md = ("$root/README.md", sort glob("$root/docs/*.md"));

# Where each file is installed, as debian/*.docs lists them: dh_installdocs
# puts a listed file (or glob) in the package's doc directory by its base
# name, and copies a listed directory whole, under its own name.
my %installed;
for my $list (glob("$top/debian/*.docs")) {
    for my $e (split /\n/, slurp($list)) {
        $e =~ s/^\s+|\s+$//g;
        next unless length $e && $e !~ /^#/;
        if (-d "$root/$e") {
            (my $base = $e) =~ s{/+$}{};
            my $inst = $base =~ s{.*/}{}r;
            $installed{"$base/$_"} = "$inst/$_" for map { s{.*/}{}r } glob("$root/$base/*");
        }
        else {
            $installed{$_} = s{.*/}{}r for map { s{^\Q$root\E/}{}r } glob("$root/$e");
        }
    }
}

check(1, "no debian/*.docs in this tree: links checked in the source tree only # SKIP")
    unless glob("$top/debian/*.docs");

# A path relative to the directory of file $from, with ../ resolved.
sub resolve {
    my ($from, $path) = @_;
    (my $t = $from) =~ s{[^/]*$}{};
    $t .= $path;
    1 while $t =~ s{(^|/)(?!\.\./)[^/]+/\.\./}{$1};
    return $t;
}

sub slug {
    my ($h) = @_;
    $h = lc $h;
    $h =~ s/[`*_]//g unless $h =~ /^[\w-]+$/;
    $h =~ s/[^\w\- ]//g;
    $h =~ s/ /-/g;
    return $h;
}

my %anchors;
sub anchors_of {
    my ($f) = @_;
    return $anchors{$f} //= do {
        my %a;
        my $in_code = 0;
        for (split /\n/, slurp($f)) {
            $in_code = !$in_code if /^```/;
            next if $in_code;
            $a{ slug($1) } = 1 if /^#+\s+(.*?)\s*$/;
        }
        \%a;
    };
}

for my $f (@md) {
    (my $rel = $f) =~ s{^\Q$root\E/}{};
    my @lines = split /\n/, slurp($f), -1;
    my $in_code = 0;
    my $bad_rows = 0;
    for my $i (0 .. $#lines) {
        my $l = $lines[$i];
        if ($l =~ /^```/) { $in_code = !$in_code; next; }
        next if $in_code;
        if ($l =~ /^\|/ && ($i == 0 || $lines[$i - 1] !~ /^\|/)
            && ($i == $#lines || $lines[$i + 1] !~ /^\|\s*:?-{3,}/)) {
            check(0, "$rel:" . ($i + 1) . ": a table row outside a table (a blank line "
                  . "before it ends the table)");
            $bad_rows++;
        }
        while ($l =~ /\]\(([^)\s]+)\)/g) {
            my $link = $1;
            next if $link =~ m{^[a-z][a-z0-9+.-]*:}i;    # http:, https:, mailto:
            my ($path, $anchor) = $link =~ /^([^#]*)(?:#(.*))?$/;
            my $target = length $path ? resolve($rel, $path) : $rel;
            my $ok = -f "$root/$target";
            check($ok, "$rel:" . ($i + 1) . ": link $link: $target does not exist") unless $ok;
            # Installed, the link must lead to where the target is installed.
            if ($ok && $installed{$rel} && length $path) {
                my $lands = resolve($installed{$rel}, $path);
                my $is = $installed{$target} // '(not installed)';
                $ok = $lands eq $is;
                check($ok, "$rel:" . ($i + 1) . ": link $link: installed, it leads to $lands "
                      . "but $target is installed as $is (debian/*.docs)") unless $ok;
            }
            if ($ok && defined $anchor) {
                check(scalar anchors_of("$root/$target")->{$anchor},
                      "$rel:" . ($i + 1) . ": link $link: $target has a heading #$anchor");
            }
            else {
                check(1, "$rel:" . ($i + 1) . ": link $link") if $ok;
            }
        }
    }
    check(1, "$rel: tables are whole") unless $bad_rows;
}

# ---- recipes that open a back door ---------------------------------------------------

# Debian's serve-cgi-bin.conf (enabled by default) serves /usr/lib/cgi-bin at
# /cgi-bin/ with Require all granted: a protected program aliased from there
# also runs without a token (review 28B). No example may put one there.
for my $f (@md) {
    (my $rel = $f) =~ s{^\Q$root\E/}{};
    my @lines = split /\n/, slurp($f);
    my $bad = 0;
    for my $i (0 .. $#lines) {
        next unless $lines[$i] =~ m{^\s*ScriptAlias(?:Match)?\s+\S+\s+"?/usr/lib/cgi-bin/}i;
        check(0, "$rel:" . ($i + 1) . ": ScriptAlias into /usr/lib/cgi-bin, which Debian also "
              . "serves at /cgi-bin/ without auth: use a directory of its own");
        $bad++;
    }
    check(1, "$rel: no ScriptAlias into /usr/lib/cgi-bin") unless $bad;
}

# ---- report ------------------------------------------------------------------------

print "1..", scalar(@results), "\n";
my $i = 0;
my $failed = 0;
for my $r (@results) {
    $i++;
    my ($ok, $what) = @$r;
    $failed++ unless $ok;
    print(($ok ? "ok" : "not ok"), " $i - $what\n");
}
exit($failed ? 1 : 0);
