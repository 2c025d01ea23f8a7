#!/usr/bin/perl
# Offline driver for Mail::DKIM, used by tests/peers.py (the dkimtool test harness).
#
#   maildkim.pl verify RECORDS.json  < message   -> one JSON object per line, one per signature
#   maildkim.pl sign KEYFILE DOMAIN SELECTOR METHOD ALGORITHM [HEADERS] < message
#                                               -> the DKIM-Signature field (CRLF folded) on stdout
#
# RECORDS.json maps DNS names ("sel._domainkey.example.com") to TXT values.  DNS is never used:
# Mail::DKIM::DNS::resolver() is set to an in-process resolver whose send() answers from that
# file with real Net::DNS::Packet objects (NXDOMAIN for unknown names), so Mail::DKIM's own
# query/rcode/TXT handling still runs.
#
# The message is read raw (binmode) and passed to PRINT() in one piece; bare LF line ends
# are turned into CRLF (Mail::DKIM expects CRLF), but no final line end is ever added, so
# a body without a final CRLF reaches Mail::DKIM as it is.
use strict;
use warnings;
use JSON::PP ();
use Mail::DKIM ();
use Mail::DKIM::DNS ();
use Mail::DKIM::Signer ();
use Mail::DKIM::Verifier ();
use Net::DNS ();

package OfflineResolver;

sub new {
    my ( $class, $records ) = @_;
    return bless { records => $records, error => 'NOERROR' }, $class;
}

sub send {
    my ( $self, $name, $type ) = @_;
    $type ||= 'A';
    my $packet = Net::DNS::Packet->new( $name, $type, 'IN' );
    $packet->header->qr(1);
    $packet->header->aa(1);
    my $key = lc $name;
    $key =~ s/\.\z//;
    if ( exists $self->{records}{$key} ) {
        if ( uc $type eq 'TXT' ) {
            my $value = $self->{records}{$key};
            my @chunks = length $value ? ( $value =~ /(.{1,255})/gs ) : ('');
            $packet->push(
                answer => Net::DNS::RR->new(
                    owner   => $name,
                    type    => 'TXT',
                    ttl     => 300,
                    txtdata => \@chunks,
                )
            );
        }
        $packet->header->rcode('NOERROR');
    }
    else {
        $packet->header->rcode('NXDOMAIN');
    }
    $self->{error} = $packet->header->rcode;
    return $packet;
}

sub errorstring { return $_[0]{error} }

package main;

sub read_message {
    binmode STDIN;
    local $/;
    my $message = <STDIN>;
    $message = '' unless defined $message;
    $message =~ s/(?<!\r)\n/\r\n/g;
    return $message;
}

sub load_records {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "cannot read records file $path: $!\n";
    local $/;
    my $json    = <$fh>;
    my $decoded = JSON::PP->new->utf8->decode($json);
    my %records;
    for my $name ( keys %$decoded ) {
        my $key = lc $name;
        $key =~ s/\.\z//;
        $records{$key} = $decoded->{$name};
    }
    return \%records;
}

sub none { return defined $_[0] ? "$_[0]" : undef }

my $command = shift @ARGV // '';
if ( $command eq 'verify' ) {
    @ARGV == 1 or die "usage: $0 verify RECORDS.json < message\n";
    Mail::DKIM::DNS::resolver( OfflineResolver->new( load_records( $ARGV[0] ) ) );
    my $verifier = Mail::DKIM::Verifier->new();
    $verifier->PRINT( read_message() );
    $verifier->CLOSE();
    my $json = JSON::PP->new->canonical;
    my @signatures = $verifier->signatures;
    for my $signature (@signatures) {
        print $json->encode(
            {
                result    => none( $signature->result ),
                detail    => none( $signature->result_detail ),
                domain    => none( $signature->domain ),
                selector  => none( $signature->selector ),
                algorithm => none( $signature->algorithm ),
                method    => none( $signature->method ),
            }
          ),
          "\n";
    }
    print STDERR 'overall: ', ( $verifier->result_detail // 'undef' ), "\n";
    exit 0;
}
elsif ( $command eq 'sign' ) {
    @ARGV == 5 || @ARGV == 6
      or die "usage: $0 sign KEYFILE DOMAIN SELECTOR METHOD ALGORITHM [HEADERS] < message\n";
    my ( $keyfile, $domain, $selector, $method, $algorithm, $headers ) = @ARGV;
    my %args = (
        Algorithm => $algorithm,
        Method    => $method,
        Domain    => $domain,
        Selector  => $selector,
        KeyFile   => $keyfile,
    );
    $args{Headers} = $headers if defined $headers && length $headers;
    my $signer = Mail::DKIM::Signer->new(%args);
    $signer->PRINT( read_message() );
    $signer->CLOSE();
    my $signature = $signer->signature
      or die "Mail::DKIM::Signer produced no signature\n";
    print $signature->as_string, "\r\n";
    exit 0;
}
die "usage: $0 verify|sign ...\n";
