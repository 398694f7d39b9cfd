# What the project's source checks (scripts/check_*.pl, run by meson test) share: the one directory
# argument they take, and reading a file whole.
package SourceCheck;
use strict;
use warnings;
use Exporter qw(import);
our @EXPORT_OK = qw(directory_argument slurp);

# The directory named by the script's only argument; dies with the usage line (NAME: what it is) when
# none is given or it is not a directory.
sub directory_argument {
  my ($name) = @_;
  my $dir = shift @ARGV or die "usage: $0 $name\n";
  -d $dir or die "$0: $dir is not a directory\n";
  return $dir;
}

sub slurp {
  my ($path) = @_;
  open my $fh, '<', $path or die "$0: cannot read $path: $!\n";
  local $/;
  return <$fh>;
}

1;
