#!/usr/bin/env perl
# Checks that every doctest suite in the unit tests is run by `meson test`.
#
# A unit-test executable that meson runs only with `--test-suite=NAME` filters runs no suite that
# no filter names: a TEST_SUITE("...") added to a .cpp without its test() entry compiles, passes and
# never runs. So, for each executable in tests/unit/**/meson.build that every test() of it filters
# that way, each TEST_SUITE in its sources must be named by one of its filters, and each filter must
# name a suite in its sources (a filter naming none runs nothing, and meson reports it passed).
# Executables some test() runs without a filter run all their suites and need no entry.
#
# Usage: check_unit_suites.pl TESTS_UNIT_DIR. Exit 0 when all are run; 1 naming each that is not.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Find qw(find);
use FindBin;
use lib "$FindBin::Bin/lib";
use SourceCheck qw(directory_argument slurp);

my $root = directory_argument('TESTS_UNIT_DIR');

# The text of the call whose opening parenthesis is at $start in $text, without the parentheses.
sub call_body {
  my ($text, $start) = @_;
  my ($depth, $quoted) = (0, 0);
  for (my $i = $start; $i < length $text; ++$i) {
    my $c = substr($text, $i, 1);
    if ($quoted) {
      if ($c eq '\\') { ++$i; next }
      $quoted = 0 if $c eq "'";
      next;
    }
    if ($c eq "'") { $quoted = 1 }
    elsif ($c eq '(') { ++$depth }
    elsif ($c eq ')') { return substr($text, $start + 1, $i - $start - 1) if --$depth == 0 }
  }
  return substr($text, $start + 1);
}

# Meson source comments, so that a commented-out test() or file counts for nothing.
sub without_comments {
  my ($text) = @_;
  $text =~ s/^((?:[^'#\n]|'(?:[^'\\\n]|\\.)*')*)#[^\n]*/$1/mg;
  return $text;
}

# doctest's filter syntax: comma-separated names, each with * and ? wildcards.
sub filter_matches {
  my ($filter, $name) = @_;
  (my $re = quotemeta $filter) =~ s/\\\*/.*/g;
  $re =~ s/\\\?/./g;
  return $name =~ /^$re$/;
}

my @builds;
find(sub { push @builds, $File::Find::name if $_ eq 'meson.build' }, $root);

my @problems;
my $checked = 0;
for my $build (sort @builds) {
  my $dir = dirname($build);
  my $text = without_comments(slurp($build));

  # Variables holding files('a.cpp', ...), which executables may list by name.
  my %file_lists;
  while ($text =~ /(\w+)\s*=\s*files\s*(?=\()/g) {
    my $name = $1;
    $file_lists{$name} = [call_body($text, pos $text) =~ /'([^']+\.cpp)'/g];
  }

  my %sources;  # executable variable -> its .cpp files under this directory
  while ($text =~ /(\w+)\s*=\s*executable\s*(?=\()/g) {
    my $var = $1;
    my $body = call_body($text, pos $text);
    my @files = $body =~ /'([^']+\.cpp)'/g;
    for my $word ($body =~ /\b(\w+)\b/g) { push @files, @{$file_lists{$word}} if $file_lists{$word} }
    $sources{$var} = [map { "$dir/$_" } grep { !m{^/} && -f "$dir/$_" } @files];
  }

  my (%filters, %unfiltered);  # executable variable -> [[filter, test name]]; run whole by some test()
  while ($text =~ /(?<![\w.])test\s*(?=\()/g) {
    my $body = call_body($text, pos $text);
    next unless $body =~ /^\s*'((?:[^'\\]|\\.)*)'\s*,\s*(\w+)/s;
    my ($test, $var) = ($1, $2);
    next unless $sources{$var};
    my @suites = $body =~ /'--test-suite=([^']*)'/g;
    if (@suites) {
      push @{$filters{$var}}, map { [$_, $test] } map { split /,/ } @suites;
    } elsif ($body !~ /'--test-case=/) {
      $unfiltered{$var} = 1;
    }
  }

  for my $var (sort keys %filters) {
    next if $unfiltered{$var};
    ++$checked;
    my @defined;  # [suite, file]
    for my $file (@{$sources{$var}}) {
      my $code = slurp($file);
      $code =~ s{//[^\n]*}{}g;
      $code =~ s{/\*.*?\*/}{}gs;
      push @defined, map { [$_, $file] } $code =~ /\bTEST_SUITE(?:_BEGIN)?\s*\(\s*"((?:[^"\\]|\\.)*)"/g;
    }
    for my $suite (@defined) {
      next if grep { filter_matches($_->[0], $suite->[0]) } @{$filters{$var}};
      push @problems, "$suite->[1]: TEST_SUITE(\"$suite->[0]\") is never run: no test() in $build runs "
        . "$var with --test-suite=$suite->[0]";
    }
    for my $filter (@{$filters{$var}}) {
      next if grep { filter_matches($filter->[0], $_->[0]) } @defined;
      push @problems, "$build: test('$filter->[1]') runs --test-suite=$filter->[0], but no source of $var "
        . "has TEST_SUITE(\"$filter->[0]\"): it runs nothing";
    }
  }
}

die "$0: found no unit-test executable filtered by --test-suite under $root\n" unless $checked;
print STDERR "$_\n" for @problems;
exit(@problems ? 1 : 0);
