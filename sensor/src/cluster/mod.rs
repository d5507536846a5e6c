//! `sensor cluster`: the small fan-in a user runs by hand across every node's sensor (the
//! pipeline for that is OTLP export). Sensors come from a list, or from the addresses of one
//! DNS name (the DaemonSet's headless Service).
pub mod events;
pub mod profile;

use anyhow::Context as _;

use crate::cli::{ConnectArgs, SensorsArgs, TlsClientArgs};

/// One sensor: how it is named in the output, and how to reach it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub connect: ConnectArgs,
}

/// The sensors `a` names: the `--sensors` list, or every address `--dns` resolves to.
pub async fn nodes(a: &SensorsArgs) -> anyhow::Result<Vec<Node>> {
    let (addrs, dns_host) = match &a.dns {
        Some(name) => {
            let host = name
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .with_context(|| format!("--dns {name}: expected NAME:PORT"))?;
            let mut found: Vec<String> = tokio::net::lookup_host(name.as_str())
                .await
                .with_context(|| format!("cannot resolve --dns {name}"))?
                .map(|a| a.to_string())
                .collect();
            found.sort();
            found.dedup();
            anyhow::ensure!(!found.is_empty(), "--dns {name}: no address");
            (found, Some(host))
        }
        None => (a.sensors.clone(), None),
    };
    anyhow::ensure!(
        !addrs.is_empty(),
        "no sensors: give --sensors HOST:PORT,... or --dns NAME:PORT"
    );
    Ok(addrs
        .into_iter()
        .map(|addr| Node {
            name: addr.clone(),
            connect: ConnectArgs {
                addr,
                tls: TlsClientArgs {
                    // Addresses from DNS are IPs: check certificates against the name asked.
                    server_name: a
                        .tls
                        .server_name
                        .clone()
                        .or_else(|| a.tls.ca.as_ref().and(dns_host.clone())),
                    ..a.tls.clone()
                },
            },
        })
        .collect())
}
