// MAC addresses taken apart as the LAN lesson shows them: OUI, local bit, group bit.
#include <catch2/catch.hpp>

#include "socklab/lab/lab.hpp"

using socklab::lab::Mac;

TEST_CASE("a MAC address's anatomy: OUI, locally administered, multicast, broadcast", "[lab][mac]") {
  const Mac lab_host = Mac::local(0x0a);  // what the lab gives host A
  CHECK(lab_host.str() == "02:00:00:00:00:0a");
  CHECK(lab_host.is_local());
  CHECK_FALSE(lab_host.is_multicast());
  CHECK_FALSE(lab_host.is_broadcast());
  CHECK(lab_host.oui() == "02:00:00");

  const Mac burnt_in = Mac::parse("00:1b:21:3a:4f:10").value();  // a maker's OUI, universally administered
  CHECK_FALSE(burnt_in.is_local());
  CHECK_FALSE(burnt_in.is_multicast());
  CHECK(burnt_in.oui() == "00:1b:21");

  const Mac ipv4_multicast = Mac::parse("01:00:5e:00:00:fb").value();
  CHECK(ipv4_multicast.is_multicast());
  CHECK_FALSE(ipv4_multicast.is_local());
  CHECK_FALSE(ipv4_multicast.is_broadcast());
  CHECK(Mac::parse("33:33:00:00:00:01").value().is_multicast());  // IPv6 multicast: group and local bits

  const Mac all = Mac::broadcast();
  CHECK(all.str() == "ff:ff:ff:ff:ff:ff");
  CHECK(all.is_broadcast());
  CHECK(all.is_multicast());  // every bit set, the group bit too
  CHECK(all.is_local());
  CHECK(Mac::parse("FF:FF:FF:FF:FF:FF").value().is_broadcast());
  // Any second hex digit 2, 6, a or e is a local unicast address.
  for (const char* local : {"06:00:00:00:00:01", "0a:00:00:00:00:01", "0e:00:00:00:00:01", "fe:00:00:00:00:01"}) {
    CAPTURE(local);
    CHECK(Mac::parse(local).value().is_local());
    CHECK_FALSE(Mac::parse(local).value().is_multicast());
  }
}
