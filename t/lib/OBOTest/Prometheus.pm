# SPDX-License-Identifier: Apache-2.0
package OBOTest::Prometheus;
# A strict reader of Prometheus' text exposition format 0.0.4, for the
# obo-status tests (t/75_metrics.t; its own tests: t/76_prom_checker.t).
#
#   my ($fam, $errors) = prom_parse($text);
#   # $fam->{name} = { help => ..., type => ..., samples => [ [name, {labels}, value], ...] }
#   # $errors: [] when the text is valid, else one message per problem
#   my $v = prom_value($fam, 'mod_auth_obo_requests_total', result => 'accepted');
#
# Checked: every line is a HELP, a TYPE or a sample (no blank line, text
# ends in a newline); HELP and TYPE once per family, both before its first
# sample; a family's samples together; metric and label names valid, no
# label twice, label values quoted with only \\ \" \n escapes; values are
# numbers; no sample twice; counters not negative; histograms: only _bucket
# (with le), _sum and _count samples, buckets per label set in increasing le
# order with non-decreasing (cumulative) counts, an le="+Inf" bucket equal
# to _count, and a _sum.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(prom_parse prom_value);

my $NAME  = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LNAME = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $NUM   = qr/[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|Inf|NaN)/;
my %TYPES = map { $_ => 1 } qw(counter gauge histogram summary untyped);

sub num { my ($s) = @_; return $s =~ /^\+?Inf$/ ? 9**9**9 : $s eq '-Inf' ? -9**9**9 : $s + 0 }

# labels text between the braces -> (hashref, error)
sub parse_labels {
    my ($s) = @_;
    my %l;
    while (length $s) {
        $s =~ s/^($LNAME)="//
            or return (undef, "bad label name or missing quote at '$s'");
        my $n = $1;
        return (undef, "reserved label name $n") if $n =~ /^__/;
        return (undef, "label $n twice") if exists $l{$n};
        my $v = '';
        while (1) {
            if ($s =~ s/^([^"\\\n]+)//) { $v .= $1 }
            elsif ($s =~ s/^\\(["\\n])//) { $v .= $1 eq 'n' ? "\n" : $1 }
            elsif ($s =~ s/^"//) { last }
            else { return (undef, "bad escape or unterminated value for label $n") }
        }
        $l{$n} = $v;
        last unless length $s;
        $s =~ s/^,// or return (undef, "expected ',' between labels at '$s'");
        return (undef, 'trailing comma') unless length $s;
    }
    return (\%l, undef);
}

sub family_of {
    my ($fam, $name) = @_;
    return $name if $fam->{$name};
    for my $suf (qw(_bucket _sum _count)) {
        (my $base = $name) =~ s/\Q$suf\E$// or next;
        return $base if $fam->{$base} && ($fam->{$base}{type} // '') =~ /^(?:histogram|summary)$/;
    }
    return $name;
}

sub key_of { my ($l) = @_; return join ',', map { "$_=$l->{$_}" } sort keys %$l }

sub check_histogram {
    my ($name, $f, $err) = @_;
    my (%buckets, %sum, %count);
    for my $s (@{ $f->{samples} }) {
        my ($n, $l, $v) = @$s;
        my %rest = %$l;
        if ($n eq "${name}_bucket") {
            defined(my $le = delete $rest{le}) or do { push @$err, "$n without le"; next };
            $le =~ /^$NUM$/ or do { push @$err, "$n: le '$le' is not a number"; next };
            push @{ $buckets{ key_of(\%rest) } }, [ num($le), $v, $le ];
        }
        elsif ($n eq "${name}_sum")   { $sum{ key_of(\%rest) } = $v }
        elsif ($n eq "${name}_count") { $count{ key_of(\%rest) } = $v }
        else { push @$err, "$n is not a sample of histogram $name" }
    }
    push @$err, "histogram $name has no buckets" unless %buckets;
    for my $k (sort keys %buckets) {
        my @b = @{ $buckets{$k} };
        for my $i (1 .. $#b) {
            push @$err, "$name\{$k}: le $b[$i][2] after $b[$i-1][2]" if $b[$i][0] <= $b[$i-1][0];
            push @$err, "$name\{$k}: bucket le=$b[$i][2] ($b[$i][1]) below le=$b[$i-1][2] ($b[$i-1][1]): not cumulative"
                if $b[$i][1] < $b[$i-1][1];
        }
        my ($inf) = grep { $_->[2] eq '+Inf' } @b;
        push @$err, "$name\{$k}: no le=\"+Inf\" bucket" unless $inf;
        push @$err, "$name\{$k}: le=\"+Inf\" is not the last bucket" if $inf && $b[-1] != $inf;
        push @$err, "$name\{$k}: no _count" unless defined $count{$k};
        push @$err, "$name\{$k}: no _sum" unless defined $sum{$k};
        push @$err, "$name\{$k}: +Inf bucket $inf->[1] != _count $count{$k}"
            if $inf && defined $count{$k} && $inf->[1] != $count{$k};
    }
}

sub prom_parse {
    my ($text) = @_;
    my (%fam, @err, @order, %seen, %closed);
    my $cur = '';
    push @err, 'text does not end in a newline' if length $text && $text !~ /\n\z/;
    my @lines = split /\n/, $text, -1;
    pop @lines if @lines && $lines[-1] eq '';    # what follows the last newline
    my $ln = 0;
    for my $line (@lines) {
        $ln++;
        if ($line =~ /^# (HELP|TYPE) ($NAME) ?(.*)$/) {
            my ($kw, $n, $rest) = ($1, $2, $3);
            my $f = $fam{$n} //= do { push @order, $n; { samples => [] } };
            push @err, "line $ln: $kw for $n after its samples" if @{ $f->{samples} };
            push @err, "line $ln: second $kw for $n" if defined $f->{ lc $kw };
            if ($kw eq 'TYPE') {
                push @err, "line $ln: unknown type '$rest'" unless $TYPES{$rest};
            }
            else {
                push @err, "line $ln: bad escape in HELP" if $rest =~ /\\(?![\\n])/;
            }
            $f->{ lc $kw } = $rest;
            next;
        }
        if ($line =~ /^#/) {
            push @err, "line $ln: malformed HELP/TYPE" if $line =~ /^#\s*(?:HELP|TYPE)\b/;
            next;
        }
        if ($line !~ /^($NAME)(?:\{(.*)\})? ($NUM)(?: (-?\d+))?$/) {
            push @err, "line $ln: not a sample: '$line'";
            next;
        }
        my ($n, $ltext, $v) = ($1, $2, $3);
        my ($l, $e) = parse_labels($ltext // '');
        if ($e) { push @err, "line $ln: $e"; next }
        my $fn = family_of(\%fam, $n);
        my $f = $fam{$fn};
        if (!$f || !defined $f->{help} || !defined $f->{type}) {
            push @err, "line $ln: sample $n without HELP and TYPE before it";
            $f = $fam{$fn} //= do { push @order, $fn; { samples => [] } };
        }
        push @err, "line $ln: samples of $fn are not together" if $closed{$fn};
        $closed{$cur} = 1 if $cur ne '' && $cur ne $fn;
        $cur = $fn;
        my $key = $n . '{' . key_of($l) . '}';
        push @err, "line $ln: $key twice" if $seen{$key}++;
        push @err, "line $ln: counter $n negative" if ($f->{type} // '') eq 'counter' && num($v) < 0;
        push @{ $f->{samples} }, [ $n, $l, num($v) ];
    }
    for my $n (@order) {
        my $f = $fam{$n};
        push @err, "family $n has no samples" unless @{ $f->{samples} };
        check_histogram($n, $f, \@err) if ($f->{type} // '') eq 'histogram';
    }
    return (\%fam, \@err);
}

# the value of the sample $name with exactly these labels (undef if none)
sub prom_value {
    my ($fam, $name, %labels) = @_;
    my $f = $fam->{ family_of($fam, $name) } or return undef;
    my $want = key_of(\%labels);
    for my $s (@{ $f->{samples} }) {
        return $s->[2] if $s->[0] eq $name && key_of($s->[1]) eq $want;
    }
    return undef;
}

1;
