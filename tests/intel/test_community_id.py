"""Community ID against the published test vectors of corelight/community-id-spec (baseline/)."""

from __future__ import annotations

import pytest

from watchkeeper.intel import community_id, protocol_number

V4S, V4D = "1.2.3.4", "5.6.7.8"
V6S = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D"
V6D = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"

# baseline/README.md tables: (proto, saddr, daddr, sport, dport, default, seed=1, hex without base64)
TABLE = [
    (6, V4S, V4D, 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
     "1:c026f7386ef200559e95a53276ed03fb5db908b3"),
    (6, V4D, V4S, 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
     "1:c026f7386ef200559e95a53276ed03fb5db908b3"),
    (17, V4S, V4D, 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
     "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8"),
    (17, V4D, V4S, 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
     "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8"),
    (132, V4S, V4D, 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=",
     "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"),
    (132, V4D, V4S, 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=",
     "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"),
    (1, V4S, V4D, 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
     "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d"),
    (1, V4D, V4S, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
     "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d"),
    (1, V4S, V4D, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA=",
     "1:7ff6224b25aa733ad381f5026650549ef1d170f9"),
    (58, V6S, V6D, 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
     "1:d1b7fb872309530b777cc103ef3f0b21f46905ea"),
    (58, V6D, V6S, 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
     "1:d1b7fb872309530b777cc103ef3f0b21f46905ea"),
    (58, V6S, V6D, 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=",
     "1:7d80bcfa9cf6e04f8484034fd44661a57d03c35d"),
    (46, V4S, V4D, None, None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=",
     "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"),
    (46, V4D, V4S, None, None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=",
     "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"),
    (46, V6S, V6D, None, None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=",
     "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed"),
    (46, V6D, V6S, None, None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=",
     "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed"),
]

# baseline/baseline_deflt.json and baseline_seed1.json (flows of pcaps/combined.pcap.gz):
# (proto, saddr, daddr, sport, dport, default, seed=1)
PCAP = [
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136,
     "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135,
     "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
    (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0,
     "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="),
    (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="),
    (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
    (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134,
     "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="),
    (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133,
     "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="),
    (1, "192.168.0.89", "192.168.0.1", 8, 0,
     "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
    (1, "192.168.0.1", "192.168.0.89", 0, 8,
     "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
    (1, "10.0.0.1", "10.0.0.2", 11, 0,
     "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="),
    (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
    (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
    (132, "192.168.170.8", "192.168.170.56", 7, 7,
     "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
    (132, "192.168.170.56", "192.168.170.8", 7, 7,
     "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
    (6, "128.232.110.120", "66.35.250.204", 34855, 80,
     "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    (6, "66.35.250.204", "128.232.110.120", 80, 34855,
     "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    (17, "192.168.1.52", "8.8.8.8", 54585, 53,
     "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
    (17, "8.8.8.8", "192.168.1.52", 53, 54585,
     "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
    (46, "10.1.12.1", "10.1.12.2", None, None,
     "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
    (46, "10.1.12.2", "10.1.12.1", None, None,
     "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
]


@pytest.mark.parametrize(("proto", "saddr", "daddr", "sport", "dport", "deflt", "seed1", "hexed"), TABLE)
def test_spec_tables(proto: int, saddr: str, daddr: str, sport: int | None, dport: int | None,
                     deflt: str, seed1: str, hexed: str) -> None:
    assert community_id(proto, saddr, sport, daddr, dport) == deflt
    assert community_id(proto, saddr, sport, daddr, dport, seed=1) == seed1
    assert community_id(proto, saddr, sport, daddr, dport, use_base64=False) == hexed


@pytest.mark.parametrize(("proto", "saddr", "daddr", "sport", "dport", "deflt", "seed1"), PCAP)
def test_spec_pcap_baselines(proto: int, saddr: str, daddr: str, sport: int | None,
                             dport: int | None, deflt: str, seed1: str) -> None:
    assert community_id(proto, saddr, sport, daddr, dport) == deflt
    assert community_id(proto, saddr, sport, daddr, dport, seed=1) == seed1


def test_protocol_names_match_numbers() -> None:
    assert community_id("TCP", V4S, 1122, V4D, 3344) == community_id(6, V4S, 1122, V4D, 3344)
    assert community_id("icmp6", V6S, 128, V6D, 0) == community_id(58, V6S, 128, V6D, 0)
    assert protocol_number("ipv6-icmp") == 58 and protocol_number("17") == 17


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("tcp", "1.2.3.4", 1, "::1", 2), {}),  # mixed families
        (("tcp", "1.2.3.999", 1, "5.6.7.8", 2), {}),  # not an address
        (("tcp", "1.2.3.4", None, "5.6.7.8", 2), {}),  # TCP needs ports
        (("tcp", "1.2.3.4", 70000, "5.6.7.8", 2), {}),
        (("bogus", "1.2.3.4", 1, "5.6.7.8", 2), {}),
        ((300, "1.2.3.4", 1, "5.6.7.8", 2), {}),
        (("tcp", "1.2.3.4", 1, "5.6.7.8", 2), {"seed": 70000}),
    ],
)
def test_bad_input_raises_value_error(args: tuple[object, ...], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        community_id(*args, **kwargs)  # type: ignore[arg-type]
