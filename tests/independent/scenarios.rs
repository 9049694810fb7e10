//! The independent generator's organizations, each planting what one of issue 29's defects got
//! wrong on a log nobody tuned the detectors for.

use super::generator::{Call, Client, Generator, Log, OnRefusal};
use chrono::{DateTime, TimeDelta, Utc};

pub fn time(text: &str) -> DateTime<Utc> {
    callbudget_api::timestamp::parse(text).expect("a valid time")
}

/// A steady, compliant background: a status poll and a network list read, both at the top of
/// every fifth minute, the same millisecond (a cron of two jobs).
fn background(g: &mut Generator, from: DateTime<Utc>, to: DateTime<Utc>) {
    let statuses = g.client(Client::sdk("Pulse/1.0 Indie", "20001", "192.0.2.10"));
    let lister = g.client(Client::script("CronList/0.9 Indie", "20002", "192.0.2.11"));
    let org = g.org_id;
    g.every(
        statuses,
        from,
        to,
        TimeDelta::minutes(5),
        TimeDelta::zero(),
        || {
            vec![Call::get(
                "getOrganizationDevicesAvailabilities",
                format!("/organizations/{org}/devices/availabilities"),
            )]
        },
    );
    g.every(
        lister,
        from,
        to,
        TimeDelta::minutes(5),
        TimeDelta::zero(),
        || {
            vec![Call::get(
                "getOrganizationInventoryDevices",
                format!("/organizations/{org}/inventory/devices"),
            )]
        },
    );
}

/// The switch ports the burst writes: 12 switches × 5 ports, 60 paths.
fn port_path(write: usize) -> String {
    let path = write % 60;
    format!(
        "/devices/Q3SW-0000-{:04}/switch/ports/{}",
        path / 5,
        path % 5 + 1
    )
}

/// Item 1: a daily job at 03:00 writes 500 single switch-port PUTs, open-loop at 25/s over only
/// 60 ports (each port every 2.4 s), each refused write retried every 0.5 s without reading
/// Retry-After and given up after its fourth retry — so a port's next write comes 0.4 s after the
/// last retry of the one before. The window runs 26 h, from 02:00 on the 1st to 04:00 on the 2nd:
/// two dates, the job once on each.
pub fn daily_write_burst() -> (Log, DateTime<Utc>, DateTime<Utc>) {
    let (from, to) = (time("2026-12-01T02:00:00Z"), time("2026-12-02T04:00:00Z"));
    let mut g = Generator::new("808001", 29_001);
    background(&mut g, from, to);
    let mut burster = Client::script("BulkPorts/2.0 IndieNet", "20003", "192.0.2.12");
    burster.on_429 = OnRefusal::Every {
        delay_ms: 500,
        spread_ms: 15,
        retries: 4,
    };
    let burster = g.client(burster);
    for day in ["2026-12-01T03:00:00Z", "2026-12-02T03:00:00Z"] {
        for write in 0..500 {
            let call = Call {
                operation_id: "updateDeviceSwitchPort",
                method: "PUT",
                path: port_path(write),
                query: String::new(),
            };
            g.plan(
                burster,
                time(day) + TimeDelta::milliseconds(40 * write as i64),
                call,
            );
        }
    }
    (g.run(), from, to)
}

/// The networks of the organization: `N_6100` to `N_6151`.
fn network(n: usize) -> String {
    format!("N_{}", 6100 + n)
}

/// An access point's serial, and its network: 200 APs over the first 12 networks.
fn access_point(ap: usize) -> (String, String) {
    (format!("Q2MR-00{:02}-{ap:04}", ap % 12), network(ap % 12))
}

/// Items 2 and 3, over one day: a per-device client scraper over 200 APs in 12 networks (it reads
/// each network's devices first, every hour); a VLAN audit of 40 other networks; three per-network
/// channel-utilization pollers on shared networks — one asking for the network's average (no
/// deviceSerial, no clientId), one per AP (deviceSerial), one per client (clientId).
pub fn networks_and_parameters() -> (Log, DateTime<Utc>, DateTime<Utc>) {
    let (from, to) = (time("2026-12-03T00:00:00Z"), time("2026-12-04T00:00:00Z"));
    let mut g = Generator::new("808002", 29_002);
    background(&mut g, from, to);
    let scraper = g.client(Client::sdk("ClientScrape/0.7 Indie", "20004", "192.0.2.13"));
    g.every(
        scraper,
        from + TimeDelta::minutes(7),
        to,
        TimeDelta::hours(1),
        TimeDelta::milliseconds(250),
        || {
            let networks = (0..12).map(|n| {
                Call::get(
                    "getNetworkDevices",
                    format!("/networks/{}/devices", network(n)),
                )
            });
            let clients = (0..200).map(|ap| {
                Call::get(
                    "getDeviceClients",
                    format!("/devices/{}/clients", access_point(ap).0),
                )
                .with_query("timespan=3600".to_owned())
            });
            networks.chain(clients).collect()
        },
    );
    let vlans = g.client(Client::script("VlanAudit/1.2 Indie", "20005", "192.0.2.14"));
    g.every(
        vlans,
        from + TimeDelta::minutes(2),
        to,
        TimeDelta::minutes(30),
        TimeDelta::milliseconds(300),
        || {
            (12..52)
                .map(|n| {
                    Call::get(
                        "getNetworkApplianceVlans",
                        format!("/networks/{}/appliance/vlans", network(n)),
                    )
                })
                .collect()
        },
    );
    let utilization = |network_id: String| {
        Call::get(
            "getNetworkWirelessChannelUtilizationHistory",
            format!("/networks/{network_id}/wireless/channelUtilizationHistory"),
        )
    };
    let averages = g.client(Client::sdk("RfAverages/1.0 Indie", "20006", "192.0.2.15"));
    g.every(
        averages,
        from + TimeDelta::minutes(3),
        to,
        TimeDelta::minutes(10),
        TimeDelta::milliseconds(500),
        || {
            (0..8)
                .map(|n| utilization(network(n)).with_query("timespan=600&resolution=600".into()))
                .collect()
        },
    );
    let per_ap = g.client(Client::script("RfPerAp/2.2 Indie", "20007", "192.0.2.16"));
    g.every(
        per_ap,
        from + TimeDelta::minutes(4),
        to,
        TimeDelta::minutes(15),
        TimeDelta::milliseconds(400),
        || {
            (0..36)
                .map(|ap| {
                    let (serial, network_id) = access_point(ap);
                    utilization(network_id)
                        .with_query(format!("deviceSerial={serial}&timespan=900&resolution=300"))
                })
                .collect()
        },
    );
    let per_client = g.client(Client::sdk("ClientRf/0.4 Indie", "20008", "192.0.2.17"));
    g.every(
        per_client,
        from + TimeDelta::minutes(6),
        to,
        TimeDelta::minutes(15),
        TimeDelta::milliseconds(400),
        || {
            (0..10)
                .map(|c| {
                    utilization(network(c % 2))
                        .with_query(format!("clientId=k{c:05x}&timespan=900"))
                })
                .collect()
        },
    );
    (g.run(), from, to)
}

/// Item 4, over one day: a sync script that at 12:00:20 reads 400 devices one by one at 20/s and
/// retries every refusal after 0.2 s without reading Retry-After — the one spike of the day — beside
/// well-behaved pollers that send more: an LLDP fan-out a little over the bucket at every minute's
/// tenth second (a few refusals of its own each time, never a spike), lists and statuses re-read
/// more often than they need to be.
pub fn one_offender_among_wasteful_pollers() -> (Log, DateTime<Utc>, DateTime<Utc>) {
    let (from, to) = (time("2026-12-05T00:00:00Z"), time("2026-12-06T00:00:00Z"));
    let mut g = Generator::new("808003", 29_003);
    let org = g.org_id;
    background(&mut g, from, to);
    let mut sync = Client::script("SyncBlaster/3.1 Indie", "20009", "192.0.2.18");
    sync.on_429 = OnRefusal::Every {
        delay_ms: 200,
        spread_ms: 30,
        retries: 5,
    };
    let sync = g.client(sync);
    for device in 0..400 {
        let at = time("2026-12-05T12:00:20Z") + TimeDelta::milliseconds(50 * device);
        g.plan(
            sync,
            at,
            Call::get("getDevice", format!("/devices/Q2XX-5555-{device:04}")),
        );
    }
    let lists = g.client(Client::sdk("ListReader/2.0 Indie", "20010", "192.0.2.19"));
    g.every(
        lists,
        from + TimeDelta::seconds(30),
        to,
        TimeDelta::minutes(1),
        TimeDelta::seconds(1),
        || {
            vec![
                Call::get(
                    "getOrganizationNetworks",
                    format!("/organizations/{org}/networks"),
                ),
                Call::get(
                    "getOrganizationPolicyObjects",
                    format!("/organizations/{org}/policyObjects"),
                ),
            ]
        },
    );
    let statuses = g.client(Client::sdk("StatusWatch/1.1 Indie", "20011", "192.0.2.20"));
    g.every(
        statuses,
        from + TimeDelta::seconds(45),
        to,
        TimeDelta::seconds(30),
        TimeDelta::zero(),
        || {
            vec![Call::get(
                "getOrganizationDevicesStatuses",
                format!("/organizations/{org}/devices/statuses"),
            )]
        },
    );
    let lldp = g.client(Client::sdk("TopoMap/4.0 Indie", "20012", "192.0.2.21"));
    g.every(
        lldp,
        from + TimeDelta::seconds(10),
        to,
        TimeDelta::minutes(1),
        TimeDelta::milliseconds(20),
        || {
            (0..28)
                .map(|d| {
                    Call::get(
                        "getDeviceLldpCdp",
                        format!("/devices/Q2SW-7777-{d:04}/lldpCdp"),
                    )
                })
                .collect()
        },
    );
    (g.run(), from, to)
}
