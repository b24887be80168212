"""Constants of the hosts netplay builds on, shared by the layers that plan, run, observe
and clean: where named namespaces live, and the marks that say an object is netplay's."""

NETNS_DIR = "/var/run/netns"  # where `ip netns` keeps a named namespace's handle
ETC_NETNS = "/etc/netns"  # `ip netns exec NS` bind-mounts /etc/netns/NS/FILE over /etc/FILE
LAB_LABEL = "netplay.lab"  # docker label naming the lab a container belongs to
FIREWALLS = ("iptables", "ip6tables")  # each root bridge gets an ACCEPT rule in both


def owner_mark(lab: str) -> str:
    """The mark on everything netplay creates, so `clean` finds its own and nothing else:
    the alias of root-namespace devices and of each lab namespace's lo, and the comment
    of firewall rules. (Containers carry the label LAB_LABEL instead.)"""
    return f"netplay:{lab}"

# Labs on several hosts: the UDP port of their VXLAN tunnels (IANA's, the kernel's and
# containerlab's default) and the MTU an underlay network has unless a host says otherwise.
VXLAN_PORT = 4789
UNDERLAY_MTU = 1500
