//! The drift commands: `sensor profile bind`, `unbind` and `diff`.
use anyhow::Context as _;
use sensor_proto::v1::{
    BindProfileRequest, DiffProfileRequest, ProfileSelector, UnbindProfileRequest,
    bind_profile_request::Profile,
};

use crate::{
    cli::{BindArgs, ConnectArgs},
    client::connect,
};

/// `sensor profile bind NAME --image ... --file F` (or `--freeze ID`).
pub async fn bind(a: BindArgs) -> anyhow::Result<()> {
    let profile = match (&a.file, &a.freeze) {
        (Some(path), _) => Profile::OciJson(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read profile {}", path.display()))?,
        ),
        (None, Some(id)) => Profile::FreezeContainerId(id.clone()),
        (None, None) => anyhow::bail!("give --file or --freeze"),
    };
    let request = BindProfileRequest {
        name: a.name.clone(),
        selector: Some(ProfileSelector {
            container_id: a.container_id.unwrap_or_default(),
            pod_namespace: a.namespace.unwrap_or_default(),
            pod_name: a.pod.unwrap_or_default(),
            container_name: a.container_name.unwrap_or_default(),
            image: a.image.unwrap_or_default(),
            pod_uid: String::new(),
        }),
        profile: Some(profile),
    };
    let r = connect(&a.connect)
        .await?
        .bind_profile(request)
        .await
        .context("the sensor refused the binding")?
        .into_inner();
    println!(
        "bound {:?}: {} calls allowed; calls outside it are profile-deviation events",
        a.name, r.allowed_calls
    );
    Ok(())
}

pub async fn unbind(c: &ConnectArgs, name: String) -> anyhow::Result<()> {
    connect(c)
        .await?
        .unbind_profile(UnbindProfileRequest { name: name.clone() })
        .await
        .context("the sensor refused")?;
    println!("unbound {name:?}");
    Ok(())
}

/// Prints the calls beyond the profile, one per line; exits 1 when there are any (so a
/// script can gate on drift).
pub async fn diff(c: &ConnectArgs, container: String) -> anyhow::Result<()> {
    let r = connect(c)
        .await?
        .diff_profile(DiffProfileRequest {
            container_id: container.clone(),
        })
        .await
        .context("the sensor cannot diff that container")?
        .into_inner();
    if r.beyond.is_empty() {
        println!(
            "{container}: nothing beyond profile {:?} ({} calls allowed)",
            r.profile, r.allowed_calls
        );
        return Ok(());
    }
    println!(
        "{container}: {} call(s) beyond profile {:?} ({} calls allowed):",
        r.beyond.len(),
        r.profile,
        r.allowed_calls
    );
    for s in &r.beyond {
        println!(
            "+ {:<24} {:>4}  {:<7} {}",
            s.name,
            s.number,
            s.arch,
            crate::render::phase_name(s.phase)
        );
    }
    std::process::exit(1);
}
