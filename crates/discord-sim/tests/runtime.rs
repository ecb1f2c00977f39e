//! discord-sim runs on its own thread, so any caller can start and stop it: an actix System
//! (as `demo` and actor tests do), a plain `#[test]`; and it reports bind and config problems
//! instead of panicking.

mod support;

use std::net::TcpListener;

use discord_sim::{RouteLimit, Sim, SimConfig, SimError, StreamStart};
use support::{RawGateway, http};

#[actix_rt::test]
async fn starts_serves_and_stops_inside_an_actix_system() {
    let sim = Sim::start(SimConfig {
        stream_start: StreamStart::Manual,
        heartbeat_interval_ms: 300,
        ..SimConfig::default()
    })
    .expect("start sim");
    let rest = sim.rest_base_url();
    let response = http()
        .get(format!("{rest}/users/@me"))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    assert_eq!(client.hello().await, 300);

    sim.shutdown();
    assert!(
        http().get(format!("{rest}/gateway")).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

#[test]
fn bind_conflicts_and_bad_configs_are_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let result = Sim::start(SimConfig {
        gateway_port: port,
        ..SimConfig::default()
    });
    assert!(
        matches!(
            result,
            Err(SimError::Bind {
                listener: "gateway",
                ..
            })
        ),
        "{result:?}"
    );

    let result = Sim::start(SimConfig {
        edit_ratio: 2.0,
        route_limits: vec![RouteLimit {
            route: "GET /nowhere".to_owned(),
            limit: 1,
            reset_ms: 1,
        }],
        ..SimConfig::default()
    });
    let Err(SimError::InvalidConfig(problems)) = result else {
        panic!("expected an invalid config, got {result:?}");
    };
    assert!(
        problems.contains("edit_ratio") && problems.contains("GET /nowhere"),
        "{problems}"
    );
}
