package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

// setupNetwork configures lo and eth0 with the kernel's classic IPv4 ioctls (netdevice(7), route(4)): no
// process is started, which matters after a snapshot restore, where every fork under TCG costs tens of
// milliseconds before the app may answer. Run at boot and again after each restore (new MAC and address).
func setupNetwork(n NetConfig) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := linkUp(fd, "lo"); err != nil {
		return err
	}
	if n.Address == "" {
		return nil
	}
	addr, gw := net.ParseIP(n.Address).To4(), net.ParseIP(n.Gateway).To4()
	mac, err := net.ParseMAC(n.MAC)
	if err != nil || addr == nil || gw == nil || n.Prefix < 1 || n.Prefix > 32 {
		return fmt.Errorf("bad network settings %+v", n)
	}
	// The MAC first: virtio-net changes it on a running link. Replacing the address drops the routes
	// through the old one, so the default route is added after it.
	var hw [16]byte
	binary.LittleEndian.PutUint16(hw[0:], syscall.ARPHRD_ETHER)
	copy(hw[2:], mac)
	if err := ifreqIoctl(fd, "eth0", syscall.SIOCSIFHWADDR, hw); err != nil {
		return fmt.Errorf("setting eth0's MAC %s: %w", n.MAC, err)
	}
	if err := ifreqIoctl(fd, "eth0", syscall.SIOCSIFADDR, sockaddrIn(addr)); err != nil {
		return fmt.Errorf("setting eth0's address %s: %w", n.Address, err)
	}
	if err := ifreqIoctl(fd, "eth0", syscall.SIOCSIFNETMASK, sockaddrIn(net.IP(net.CIDRMask(n.Prefix, 32)))); err != nil {
		return fmt.Errorf("setting eth0's prefix /%d: %w", n.Prefix, err)
	}
	if err := linkUp(fd, "eth0"); err != nil {
		return err
	}
	if err := addDefaultRoute(fd, gw); err != nil && err != syscall.EEXIST {
		return fmt.Errorf("default route via %s: %w", n.Gateway, err)
	}
	// Tells the bridge and the host where this address is now (after a restore, on a new MAC). Nothing waits for it.
	go func() {
		if err := announce("eth0", mac, addr, gw); err != nil {
			logf("strata-guest-init: announcing eth0's address: %v", err)
		}
	}()
	return nil
}

// announce sends two ARP requests from a packet socket, without starting a process (a fork and exec of
// busybox arping cost tens of milliseconds under TCG, on a restored guest's path to answering): a
// gratuitous one (RFC 5227's announcement, sender and target address both ours, as `arping -U`), which
// updates a neighbour's stale entry for the address, and one for the gateway, which the host answers and,
// as RFC 826 has a request's receiver do, learns our address from, so its first connection to the app
// needs no ARP round trip of its own.
func announce(ifname string, mac net.HardwareAddr, ip, gateway net.IP) error {
	const ethPArp = 0x0806
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, int(htons(ethPArp)))
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	index, err := ifIndex(fd, ifname)
	if err != nil {
		return err
	}
	// struct arphdr for Ethernet/IPv4 (RFC 826): hardware 1, protocol 0x0800, lengths 6 and 4, op 1 (request),
	// then sender MAC and address, target MAC (unknown: zero) and address.
	pkt := make([]byte, 28)
	binary.BigEndian.PutUint16(pkt[0:], 1)
	binary.BigEndian.PutUint16(pkt[2:], 0x0800)
	pkt[4], pkt[5] = 6, 4
	binary.BigEndian.PutUint16(pkt[6:], 1)
	copy(pkt[8:14], mac)
	copy(pkt[14:18], ip.To4())
	to := &syscall.SockaddrLinklayer{Protocol: htons(ethPArp), Ifindex: index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for _, target := range []net.IP{ip, gateway} {
		copy(pkt[24:28], target.To4())
		if err := syscall.Sendto(fd, pkt, 0, to); err != nil {
			return err
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ifIndex: SIOCGIFINDEX with a struct ifreq (the index is the union's first int).
func ifIndex(fd int, name string) (int, error) {
	var ifr [40]byte
	copy(ifr[:syscall.IFNAMSIZ-1], name)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFINDEX, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return 0, fmt.Errorf("index of %s: %w", name, e)
	}
	return int(int32(binary.LittleEndian.Uint32(ifr[syscall.IFNAMSIZ:]))), nil
}

// ifreqIoctl issues one SIOCSIF* ioctl with a struct ifreq: the name, then 16 (of 24) bytes of union.
func ifreqIoctl(fd int, name string, req uintptr, data [16]byte) error {
	var ifr [40]byte
	copy(ifr[:syscall.IFNAMSIZ-1], name)
	copy(ifr[syscall.IFNAMSIZ:], data[:])
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return e
	}
	return nil
}

func linkUp(fd int, name string) error {
	var ifr [40]byte
	copy(ifr[:syscall.IFNAMSIZ-1], name)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return fmt.Errorf("flags of %s: %w", name, e)
	}
	flags := binary.LittleEndian.Uint16(ifr[syscall.IFNAMSIZ:]) | syscall.IFF_UP
	var data [16]byte
	binary.LittleEndian.PutUint16(data[:], flags)
	if err := ifreqIoctl(fd, name, syscall.SIOCSIFFLAGS, data); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// sockaddrIn is a struct sockaddr_in (family, port 0, address) padded to struct sockaddr's 16 bytes.
func sockaddrIn(ip net.IP) [16]byte {
	var sa [16]byte
	binary.LittleEndian.PutUint16(sa[0:], syscall.AF_INET)
	copy(sa[4:8], ip.To4())
	return sa
}

// addDefaultRoute: SIOCADDRT with a struct rtentry (x86-64 layout: rt_dst at 8, rt_gateway at 24,
// rt_genmask at 40, rt_flags at 56; 120 bytes), destination and mask 0.0.0.0.
func addDefaultRoute(fd int, gw net.IP) error {
	var rt [120]byte
	any4 := sockaddrIn(net.IPv4zero)
	copy(rt[8:24], any4[:])
	g := sockaddrIn(gw)
	copy(rt[24:40], g[:])
	copy(rt[40:56], any4[:])
	binary.LittleEndian.PutUint16(rt[56:], syscall.RTF_UP|syscall.RTF_GATEWAY)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCADDRT, uintptr(unsafe.Pointer(&rt[0]))); e != 0 {
		return e
	}
	return nil
}
