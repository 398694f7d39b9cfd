#!/usr/bin/env perl
# Checks that the log events the gateway writes and those docs/OPERATIONS.md documents are the same.
#
# Operators alert on event names from the "Logs" table; an event the code writes but the table
# lacks (a start that fails, a drain) cannot be alerted on by anyone reading the docs, and a
# documented event the code never writes is an alert that never fires. Events are the second
# argument of log_event("LEVEL", "EVENT", ...) in the sources; documented ones are the
# backquoted names in the first column of the table under "## Logs".
#
# Usage: check_log_events.pl SOURCE_ROOT. Exit 0 when both sets agree; 1 naming each difference.
use strict;
use warnings;
use File::Find qw(find);
use FindBin;
use lib "$FindBin::Bin/lib";
use SourceCheck qw(directory_argument slurp);

my $root = directory_argument('SOURCE_ROOT');

my %written;  # event => first FILE:LINE that writes it
for my $dir (qw(gateway accel crypto policy)) {
  next unless -d "$root/$dir";
  find({ no_chdir => 1, wanted => sub {
    return unless /\.(?:cpp|hpp)$/;
    my $line = 0;
    for (split /\n/, slurp($File::Find::name)) {
      ++$line;
      while (/\blog_event\(\s*"[a-z]+"\s*,\s*"([a-z_]+)"/g) {
        my $event = $1;
        (my $where = $File::Find::name) =~ s{^\Q$root\E/}{};
        $written{$event} //= "$where:$line";
      }
    }
  } }, "$root/$dir");
}

my $doc = "docs/OPERATIONS.md";
my %documented;  # event => line in the doc
my ($in_logs, $line) = (0, 0);
for (split /\n/, slurp("$root/$doc")) {
  ++$line;
  if (/^## /) { $in_logs = /^## Logs\s*$/; next; }
  next unless $in_logs && /^\|([^|]*)\|/;
  my $first = $1;
  $documented{$1} //= $line while $first =~ /`([a-z_]+)`/g;
}

my @problems;
die "$0: $doc has no event in a table under '## Logs'\n" unless %documented;
push @problems, "$written{$_}: log event '$_' is not in the table under '## Logs' in $doc"
  for grep { !exists $documented{$_} } sort keys %written;
push @problems, "$doc:$documented{$_}: documented log event '$_' is written nowhere in the sources"
  for grep { !exists $written{$_} } sort keys %documented;
print "$_\n" for @problems;
exit(@problems ? 1 : 0);
