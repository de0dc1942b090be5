"""Reading recorded or sniffed traffic: pcap/pcapng files turned into datagrams, ARP frames and TCP conversations."""
