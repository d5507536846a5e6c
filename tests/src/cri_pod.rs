//! A pod and its containers as kubelet asks containerd for them through the CRI API.
use sensor_proto::cri::{
    Capability, ContainerConfig, ContainerMetadata, CreateContainerRequest, ImageSpec,
    LinuxContainerConfig, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopPodSandboxRequest, runtime_service_client::RuntimeServiceClient,
};

use crate::containerd::{Containerd, IMAGE};

pub type CriClient = RuntimeServiceClient<tonic::transport::Channel>;

/// A pod as kubelet asks for it: host network and its own cgroup parent.
pub fn pod_config(name: &str, namespace: &str, uid: &str, cgroup_parent: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: uid.into(),
            namespace: namespace.into(),
            attempt: 0,
        }),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(node_ns(NamespaceMode::Pod)),
                privileged: false,
            }),
        }),
        ..Default::default()
    }
}

pub fn node_ns(pid: NamespaceMode) -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
    }
}

/// A container running `script` in the test image with CAP_SYS_ADMIN (so it may mount).
pub fn app_config(name: &str, containerd: &Containerd, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        // As kubelet asks: the resolved image id, and the reference the pod spec gave.
        image: Some(ImageSpec {
            image: containerd.image_id.clone(),
            user_specified_image: IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capability {
                    add_capabilities: vec!["CAP_SYS_ADMIN".into()],
                    drop_capabilities: vec![],
                }),
                privileged: false,
                namespace_options: Some(node_ns(NamespaceMode::Container)),
                seccomp: None,
            }),
        }),
        ..Default::default()
    }
}

/// Starts a pod sandbox; returns its id.
pub async fn run_pod(
    cri: &mut CriClient,
    containerd: &Containerd,
    pod: &PodSandboxConfig,
) -> String {
    cri.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(pod.clone()),
        runtime_handler: String::new(),
    })
    .await
    .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", containerd.log()))
    .into_inner()
    .pod_sandbox_id
}

/// Creates and starts a container in a sandbox; returns its id.
pub async fn start_container(
    cri: &mut CriClient,
    containerd: &Containerd,
    sandbox: &str,
    pod: &PodSandboxConfig,
    config: ContainerConfig,
) -> String {
    let created = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.into(),
            config: Some(config),
            sandbox_config: Some(pod.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", containerd.log()))
        .into_inner()
        .container_id;
    cri.start_container(StartContainerRequest {
        container_id: created.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", containerd.log()));
    created
}

/// Stops and removes a pod sandbox (and its containers).
pub async fn end_pod(cri: &mut CriClient, sandbox: String) {
    cri.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: sandbox.clone(),
    })
    .await
    .expect("StopPodSandbox");
    cri.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: sandbox,
    })
    .await
    .expect("RemovePodSandbox");
}
