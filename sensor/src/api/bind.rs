//! The drift RPCs: binding a profile to workloads (from JSON, or frozen from what a container
//! was learned doing), removing an API binding, and a container's calls beyond its profile.
use std::sync::Arc;

use sensor_proto::v1::{
    self as pb, BindProfileRequest, BindProfileResponse, DiffProfileRequest, DiffProfileResponse,
    GetProfileRequest, bind_profile_request::Profile,
};
use tonic::Status;
use wildmatch::WildMatch;

use super::convert;
use crate::{
    policy::{BoundTo, Exception, Target, binding::Binding, reload::SharedInstaller},
    profile::{self, learner::Profiles},
    syscalls::Arch,
};

/// Longest binding name accepted.
const NAME_MAX: usize = 128;

/// The selector as a policy matcher (at least one field given).
fn who(sel: Option<&pb::ProfileSelector>) -> Result<Exception, Status> {
    let sel = sel.ok_or_else(|| Status::invalid_argument("selector: missing"))?;
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let glob = |s: &str| (!s.is_empty()).then(|| WildMatch::new(s));
    if !sel.container_id.is_empty() && !is_container_id(&sel.container_id) {
        return Err(Status::invalid_argument(
            "selector.container_id: a full container id (64 hex digits)",
        ));
    }
    let e = Exception {
        line: 0,
        namespace: glob(&sel.pod_namespace),
        pod: glob(&sel.pod_name),
        pod_uid: text(&sel.pod_uid),
        container: glob(&sel.container_name),
        image: glob(&sel.image),
        container_id: text(&sel.container_id),
        syscalls: Vec::new(),
    };
    let any = e.namespace.is_some()
        || e.pod.is_some()
        || e.pod_uid.is_some()
        || e.container.is_some()
        || e.image.is_some()
        || e.container_id.is_some();
    if !any {
        return Err(Status::invalid_argument(
            "selector: give container_id, pod_namespace, pod_name, container_name, image or pod_uid",
        ));
    }
    Ok(e)
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_name(name: &str) -> Result<(), Status> {
    if name.is_empty() || name.len() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "name: 1 to {NAME_MAX} printable characters"
        )));
    }
    Ok(())
}

/// The profile GetProfile would give for one container now, as OCI JSON.
fn frozen(profiles: &Profiles, container_id: &str) -> Result<String, Status> {
    let req = GetProfileRequest {
        container_id: container_id.to_owned(),
        ..Default::default()
    };
    let sel = convert::selector_from_wire(&req)?;
    let opts = convert::build_options_from_wire(&req)?;
    let learned = profiles.select_complete(&sel).map_err(Status::internal)?;
    if learned.is_empty() {
        return Err(Status::not_found(format!(
            "freeze_container_id: nothing learned for container {container_id}"
        )));
    }
    let built = profile::build(&learned, &sel, Arch::NATIVE, &opts);
    Ok(convert::profile_to_wire(&built).oci_json)
}

pub async fn bind(
    installer: &SharedInstaller,
    profiles: &Profiles,
    req: &BindProfileRequest,
) -> Result<BindProfileResponse, Status> {
    check_name(&req.name)?;
    let who = who(req.selector.as_ref())?;
    let json = match &req.profile {
        Some(Profile::OciJson(j)) => j.clone(),
        Some(Profile::FreezeContainerId(id)) => frozen(profiles, id)?,
        None => {
            return Err(Status::invalid_argument(
                "profile: give oci_json or freeze_container_id",
            ));
        }
    };
    let binding = Binding::new(&req.name, who, &json).map_err(Status::invalid_argument)?;
    let allowed_calls = u32::try_from(binding.calls).unwrap_or(u32::MAX);
    installer
        .lock()
        .await
        .bind(binding)
        .await
        .map_err(|e| Status::internal(format!("{e:#}")))?;
    tracing::info!(
        name = req.name,
        allowed_calls,
        "profile bound through the API"
    );
    Ok(BindProfileResponse {
        allowed_calls,
        oci_json: json,
    })
}

pub async fn unbind(installer: &SharedInstaller, name: &str) -> Result<(), Status> {
    check_name(name)?;
    match installer.lock().await.unbind(name).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Status::not_found(format!(
            "no binding {name:?} made through the API (bindings of the policy file change with the file)"
        ))),
        Err(e) => Err(Status::internal(format!("{e:#}"))),
    }
}

pub async fn diff(
    installer: &SharedInstaller,
    profiles: &Profiles,
    req: &DiffProfileRequest,
) -> Result<DiffProfileResponse, Status> {
    let get = GetProfileRequest {
        container_id: req.container_id.clone(),
        ..Default::default()
    };
    let sel = convert::selector_from_wire(&get)?;
    let learned = profiles.select_complete(&sel).map_err(Status::internal)?;
    let Some(first) = learned.first() else {
        return Err(Status::not_found(format!(
            "nothing learned for container {}",
            req.container_id
        )));
    };
    let policy = installer.lock().await.current();
    let target = Target {
        container: first.container.as_deref(),
        meta: first.meta.as_deref(),
    };
    let binding: Arc<Binding> = match policy.binding(&target) {
        BoundTo::To(b) => b,
        BoundTo::Undecided => {
            return Err(Status::unavailable(
                "the container's metadata is not known yet: try again",
            ));
        }
        BoundTo::None => {
            return Err(Status::failed_precondition(format!(
                "no profile is bound to container {}",
                req.container_id
            )));
        }
    };
    // What a profile of it would allow (without the always-allowed set: only what it made).
    let opts = profile::BuildOptions {
        always_allowed: Vec::new(),
        ..Default::default()
    };
    let built = profile::build(&learned, &sel, Arch::NATIVE, &opts);
    let beyond = built
        .syscalls
        .iter()
        .filter(|c| c.arch.key(c.nr).is_some_and(|k| !binding.allows(k)))
        .map(convert::profile_call_to_wire)
        .collect();
    Ok(DiffProfileResponse {
        profile: binding.name.clone(),
        beyond,
        allowed_calls: u32::try_from(binding.calls).unwrap_or(u32::MAX),
    })
}
