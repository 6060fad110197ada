//! Admin calls rdkafka 0.39 does not wrap, straight over librdkafka (through
//! rdkafka-sys): IncrementalAlterConfigs, DescribeCluster, Create/Describe/
//! DeleteAcls, and the group list with each group's coordinator.
//!
//! Every call is blocking: it makes its own reply queue, starts the request
//! with the caller's client, polls the queue for the one result event (for
//! at most the request timeout plus a margin) and copies what it needs into
//! owned Rust values before anything is freed. Every librdkafka object made
//! here has an owner below whose `Drop` frees it, so an early return frees
//! it too. Run these with `spawn_blocking`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;
use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::bindings::{
    rd_kafka_AclOperation_t as Op, rd_kafka_AclPermissionType_t as Perm,
    rd_kafka_AlterConfigOpType_t as AlterOp, rd_kafka_ResourcePatternType_t as Pattern,
    rd_kafka_ResourceType_t as ResType,
};

use crate::error::{ApiError, ErrorCode};

/// Extra time a poll waits past the request timeout, so librdkafka's own
/// timeout answer (with its message) arrives first.
const POLL_MARGIN: Duration = Duration::from_secs(1);

/// A borrowed librdkafka client handle. The client must outlive every call
/// made with it (callers hold the owning `AdminClient` while they call).
#[derive(Clone, Copy)]
pub struct Handle(pub *mut sys::RDKafka);

struct Queue(*mut sys::rd_kafka_queue_t);
impl Drop for Queue {
    fn drop(&mut self) {
        // Safety: made by rd_kafka_queue_new, destroyed once. A result that
        // arrives after this is dropped by librdkafka (the queue is
        // reference counted).
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_queue_destroy(self.0) }
        }
    }
}

struct Options(*mut sys::rd_kafka_AdminOptions_t);
impl Drop for Options {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_AdminOptions_destroy(self.0) }
        }
    }
}

struct Event(*mut sys::rd_kafka_event_t);
impl Drop for Event {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_event_destroy(self.0) }
        }
    }
}

struct Error(*mut sys::rd_kafka_error_t);
impl Drop for Error {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_error_destroy(self.0) }
        }
    }
}

struct ConfigResources(Vec<*mut sys::rd_kafka_ConfigResource_t>);
impl Drop for ConfigResources {
    fn drop(&mut self) {
        for r in &self.0 {
            unsafe { sys::rd_kafka_ConfigResource_destroy(*r) }
        }
    }
}

struct AclBindings(Vec<*mut sys::rd_kafka_AclBinding_t>);
impl Drop for AclBindings {
    fn drop(&mut self) {
        for b in &self.0 {
            unsafe { sys::rd_kafka_AclBinding_destroy(*b) }
        }
    }
}

struct GroupList(*const sys::rd_kafka_group_list);
impl Drop for GroupList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_group_list_destroy(self.0) }
        }
    }
}

struct Tpl(*mut sys::rd_kafka_topic_partition_list_t);
impl Drop for Tpl {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_topic_partition_list_destroy(self.0) }
        }
    }
}

struct GroupOffsetsRequest(*mut sys::rd_kafka_ListConsumerGroupOffsets_t);
impl Drop for GroupOffsetsRequest {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::rd_kafka_ListConsumerGroupOffsets_destroy(self.0) }
        }
    }
}

/// The entries of a partition list librdkafka owns.
///
/// Safety: `tpl` is NULL or a live list, alive for the returned slice's use.
unsafe fn partitions<'a>(
    tpl: *const sys::rd_kafka_topic_partition_list_t,
) -> &'a [sys::rd_kafka_topic_partition_t] {
    if tpl.is_null() || (*tpl).elems.is_null() || (*tpl).cnt <= 0 {
        return &[];
    }
    std::slice::from_raw_parts((*tpl).elems, (*tpl).cnt as usize)
}

/// Safety: as [`partitions`], and nothing else uses the list meanwhile.
unsafe fn partitions_mut<'a>(
    tpl: *mut sys::rd_kafka_topic_partition_list_t,
) -> &'a mut [sys::rd_kafka_topic_partition_t] {
    if tpl.is_null() || (*tpl).elems.is_null() || (*tpl).cnt <= 0 {
        return &mut [];
    }
    std::slice::from_raw_parts_mut((*tpl).elems, (*tpl).cnt as usize)
}

/// A new librdkafka partition list of `wanted`.
fn partition_list(wanted: &[(String, i32)]) -> Result<Tpl, ApiError> {
    let size = c_int::try_from(wanted.len())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "too many partitions"))?;
    let tpl = Tpl(unsafe { sys::rd_kafka_topic_partition_list_new(size) });
    if tpl.0.is_null() {
        return Err(ApiError::new(ErrorCode::Internal, "partition list"));
    }
    for (topic, partition) in wanted {
        let ctopic = cstring("a topic name", topic)?;
        // librdkafka copies the name.
        let entry =
            unsafe { sys::rd_kafka_topic_partition_list_add(tpl.0, ctopic.as_ptr(), *partition) };
        if entry.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "partition list"));
        }
    }
    Ok(tpl)
}

fn cstring(what: &str, s: &str) -> Result<CString, ApiError> {
    CString::new(s).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("{what} must not contain a NUL byte"),
        )
    })
}

/// Copies a C string librdkafka owns; `None` for NULL.
///
/// Safety: `p` is NULL or a NUL-terminated string alive for this call.
unsafe fn owned(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// A librdkafka error code as the gateway answers it.
fn kafka_error(code: sys::rd_kafka_resp_err_t, message: Option<String>) -> ApiError {
    use rdkafka::types::RDKafkaErrorCode as K;
    let kafka: K = code.into();
    let message = message.unwrap_or_else(|| kafka.to_string());
    let error = match kafka {
        K::UnsupportedFeature | K::UnsupportedVersion => ErrorCode::UnsupportedByBroker,
        K::SecurityDisabled => ErrorCode::UnsupportedByBroker,
        K::ClusterAuthorizationFailed
        | K::TopicAuthorizationFailed
        | K::GroupAuthorizationFailed => ErrorCode::KafkaAuthorization,
        K::InvalidConfig | K::InvalidRequest | K::InvalidArgument | K::PolicyViolation => {
            ErrorCode::KafkaBadRequest
        }
        K::UnknownTopicOrPartition | K::UnknownTopic => ErrorCode::TopicNotFound,
        other => ErrorCode::from_kafka(other),
    };
    ApiError::new(error, message)
}

impl Handle {
    fn options(
        self,
        api: sys::rd_kafka_admin_op_t,
        timeout: Duration,
    ) -> Result<Options, ApiError> {
        // Safety: self.0 is a live client (see Handle).
        let options = Options(unsafe { sys::rd_kafka_AdminOptions_new(self.0, api) });
        if options.0.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "admin options"));
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        let mut errstr = [0 as c_char; 256];
        // Safety: options is live; errstr is writable for its length. (The
        // operation timeout applies only to topic requests, none here.)
        let err = unsafe {
            sys::rd_kafka_AdminOptions_set_request_timeout(
                options.0,
                ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = unsafe { owned(errstr.as_ptr()) };
            return Err(ApiError::new(
                ErrorCode::Internal,
                message.unwrap_or_else(|| "admin request timeout".into()),
            ));
        }
        Ok(options)
    }

    fn queue(self) -> Result<Queue, ApiError> {
        let queue = Queue(unsafe { sys::rd_kafka_queue_new(self.0) });
        if queue.0.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "admin queue"));
        }
        Ok(queue)
    }

    /// Waits for the request's one event; fails with the event's own error
    /// (a request-level failure) if it has one.
    fn wait(queue: &Queue, timeout: Duration) -> Result<Event, ApiError> {
        let ms = (timeout + POLL_MARGIN).as_millis().min(i32::MAX as u128) as c_int;
        let event = unsafe { sys::rd_kafka_queue_poll(queue.0, ms) };
        if event.is_null() {
            return Err(ApiError::new(
                ErrorCode::KafkaRetriable,
                "the Kafka admin request timed out",
            ));
        }
        let event = Event(event);
        let err = unsafe { sys::rd_kafka_event_error(event.0) };
        if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = unsafe { owned(sys::rd_kafka_event_error_string(event.0)) };
            return Err(kafka_error(err, message));
        }
        Ok(event)
    }

    /// IncrementalAlterConfigs of one resource. `changes`: (name, value)
    /// pairs; `None` deletes (reverts to the default).
    pub fn incremental_alter_configs(
        self,
        resource: ConfigTarget<'_>,
        changes: &[(String, Option<String>)],
        timeout: Duration,
    ) -> Result<(), ApiError> {
        let (restype, name) = match resource {
            ConfigTarget::Topic(t) => (ResType::RD_KAFKA_RESOURCE_TOPIC, t.to_string()),
            ConfigTarget::Broker(id) => (ResType::RD_KAFKA_RESOURCE_BROKER, id.to_string()),
        };
        let cname = cstring("the resource name", &name)?;
        let mut resources = ConfigResources(Vec::with_capacity(1));
        let r = unsafe { sys::rd_kafka_ConfigResource_new(restype, cname.as_ptr()) };
        if r.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "config resource"));
        }
        resources.0.push(r);
        for (key, value) in changes {
            let ckey = cstring("a config name", key)?;
            let cvalue = value
                .as_deref()
                .map(|v| cstring("a config value", v))
                .transpose()?;
            let op = if cvalue.is_some() {
                AlterOp::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET
            } else {
                AlterOp::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE
            };
            let error = unsafe {
                sys::rd_kafka_ConfigResource_add_incremental_config(
                    r,
                    ckey.as_ptr(),
                    op,
                    cvalue.as_ref().map_or(ptr::null(), |v| v.as_ptr()),
                )
            };
            if !error.is_null() {
                let error = Error(error);
                let message = unsafe { owned(sys::rd_kafka_error_string(error.0)) };
                return Err(ApiError::new(
                    ErrorCode::KafkaBadRequest,
                    message.unwrap_or_else(|| format!("invalid config {key}")),
                ));
            }
        }
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe {
            sys::rd_kafka_IncrementalAlterConfigs(
                self.0,
                resources.0.as_mut_ptr(),
                resources.0.len(),
                options.0,
                queue.0,
            )
        };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_IncrementalAlterConfigs_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let results =
            unsafe { sys::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count) };
        for i in 0..count {
            // Safety: librdkafka returned `count` valid pointers, alive as
            // long as the event.
            let r = unsafe { *results.add(i) };
            let err = unsafe { sys::rd_kafka_ConfigResource_error(r) };
            if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let message = unsafe { owned(sys::rd_kafka_ConfigResource_error_string(r)) };
                return Err(kafka_error(err, message));
            }
        }
        Ok(())
    }

    /// DescribeCluster: the cluster id, the controller and every node.
    pub fn describe_cluster(self, timeout: Duration) -> Result<ClusterDescription, ApiError> {
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe { sys::rd_kafka_DescribeCluster(self.0, options.0, queue.0) };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_DescribeCluster_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let node = |n: *const sys::rd_kafka_Node_t| unsafe {
            Node {
                id: sys::rd_kafka_Node_id(n),
                host: owned(sys::rd_kafka_Node_host(n)).unwrap_or_default(),
                port: i32::from(sys::rd_kafka_Node_port(n)),
                rack: owned(sys::rd_kafka_Node_rack(n)),
            }
        };
        let mut count = 0usize;
        let nodes = unsafe { sys::rd_kafka_DescribeCluster_result_nodes(result, &mut count) };
        let nodes = (0..count).map(|i| node(unsafe { *nodes.add(i) })).collect();
        let controller = unsafe { sys::rd_kafka_DescribeCluster_result_controller(result) };
        Ok(ClusterDescription {
            cluster_id: unsafe { owned(sys::rd_kafka_DescribeCluster_result_cluster_id(result)) },
            controller: (!controller.is_null()).then(|| node(controller).id),
            nodes,
        })
    }

    /// CreateAcls, one binding per entry; the first failure is answered.
    pub fn create_acls(self, acls: &[Acl], timeout: Duration) -> Result<(), ApiError> {
        let mut bindings = AclBindings(Vec::with_capacity(acls.len()));
        for acl in acls {
            bindings.0.push(acl_binding(acl, false)?);
        }
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe {
            sys::rd_kafka_CreateAcls(
                self.0,
                bindings.0.as_mut_ptr(),
                bindings.0.len(),
                options.0,
                queue.0,
            )
        };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_CreateAcls_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let results = unsafe { sys::rd_kafka_CreateAcls_result_acls(result, &mut count) };
        for i in 0..count {
            let error = unsafe { sys::rd_kafka_acl_result_error(*results.add(i)) };
            if !error.is_null() {
                // Owned by the result, not freed here.
                let code = unsafe { sys::rd_kafka_error_code(error) };
                let message = unsafe { owned(sys::rd_kafka_error_string(error)) };
                return Err(kafka_error(code, message));
            }
        }
        Ok(())
    }

    /// DescribeAcls with one filter.
    pub fn describe_acls(self, filter: &Acl, timeout: Duration) -> Result<Vec<Acl>, ApiError> {
        let filter = AclBindings(vec![acl_binding(filter, true)?]);
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe { sys::rd_kafka_DescribeAcls(self.0, filter.0[0], options.0, queue.0) };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_DescribeAcls_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let acls = unsafe { sys::rd_kafka_DescribeAcls_result_acls(result, &mut count) };
        Ok((0..count)
            .map(|i| unsafe { read_acl(*acls.add(i)) })
            .collect())
    }

    /// DeleteAcls with one filter; the ACLs it deleted.
    pub fn delete_acls(self, filter: &Acl, timeout: Duration) -> Result<Vec<Acl>, ApiError> {
        let mut filter = AclBindings(vec![acl_binding(filter, true)?]);
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe {
            sys::rd_kafka_DeleteAcls(
                self.0,
                filter.0.as_mut_ptr(),
                filter.0.len(),
                options.0,
                queue.0,
            )
        };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_DeleteAcls_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let responses = unsafe { sys::rd_kafka_DeleteAcls_result_responses(result, &mut count) };
        let mut deleted = Vec::new();
        for i in 0..count {
            let response = unsafe { *responses.add(i) };
            let error = unsafe { sys::rd_kafka_DeleteAcls_result_response_error(response) };
            if !error.is_null() {
                let code = unsafe { sys::rd_kafka_error_code(error) };
                let message = unsafe { owned(sys::rd_kafka_error_string(error)) };
                return Err(kafka_error(code, message));
            }
            let mut n = 0usize;
            let acls =
                unsafe { sys::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut n) };
            deleted.extend((0..n).map(|j| unsafe { read_acl(*acls.add(j)) }));
        }
        Ok(deleted)
    }

    /// ListConsumerGroupOffsets (OffsetFetch): the group's committed
    /// offsets of `only` those partitions, or with `None` of every
    /// partition it committed: (topic, partition, offset). Empty for a
    /// group the broker does not know.
    pub fn group_offsets(
        self,
        group: &str,
        only: Option<&[(String, i32)]>,
        timeout: Duration,
    ) -> Result<Vec<(String, i32, i64)>, ApiError> {
        let cgroup = cstring("the group id", group)?;
        let only = only.map(partition_list).transpose()?;
        // NULL partitions: all of them. librdkafka copies the list.
        let mut request = GroupOffsetsRequest(unsafe {
            sys::rd_kafka_ListConsumerGroupOffsets_new(
                cgroup.as_ptr(),
                only.as_ref().map_or(ptr::null(), |l| l.0 as *const _),
            )
        });
        if request.0.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "group offsets request"));
        }
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe {
            sys::rd_kafka_ListConsumerGroupOffsets(self.0, &mut request.0, 1, options.0, queue.0)
        };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_ListConsumerGroupOffsets_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let groups =
            unsafe { sys::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count) };
        let mut out = Vec::new();
        for i in 0..count {
            let g = unsafe { *groups.add(i) };
            let error = unsafe { sys::rd_kafka_group_result_error(g) };
            if !error.is_null() {
                let code = unsafe { sys::rd_kafka_error_code(error) };
                let message = unsafe { owned(sys::rd_kafka_error_string(error)) };
                return Err(kafka_error(code, message));
            }
            for p in unsafe { partitions(sys::rd_kafka_group_result_partitions(g)) } {
                if p.err == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0 {
                    if let Some(topic) = unsafe { owned(p.topic) } {
                        out.push((topic, p.partition, p.offset));
                    }
                }
            }
        }
        Ok(out)
    }

    /// ListOffsets (latest): each partition's end offset (the high
    /// watermark); partitions the broker refuses are left out.
    pub fn end_offsets(
        self,
        wanted: &[(String, i32)],
        timeout: Duration,
    ) -> Result<Vec<(String, i32, i64)>, ApiError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let tpl = partition_list(wanted)?;
        for p in unsafe { partitions_mut(tpl.0) } {
            p.offset = sys::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64;
        }
        let options = self.options(
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            timeout,
        )?;
        let queue = self.queue()?;
        unsafe { sys::rd_kafka_ListOffsets(self.0, tpl.0, options.0, queue.0) };
        let event = Self::wait(&queue, timeout)?;
        let result = unsafe { sys::rd_kafka_event_ListOffsets_result(event.0) };
        if result.is_null() {
            return Err(ApiError::new(ErrorCode::Internal, "unexpected admin event"));
        }
        let mut count = 0usize;
        let infos = unsafe { sys::rd_kafka_ListOffsets_result_infos(result, &mut count) };
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let p = unsafe { sys::rd_kafka_ListOffsetsResultInfo_topic_partition(*infos.add(i)) };
            if p.is_null() {
                continue;
            }
            let p = unsafe { &*p };
            if p.err == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0 {
                if let Some(topic) = unsafe { owned(p.topic) } {
                    out.push((topic, p.partition, p.offset));
                }
            }
        }
        Ok(out)
    }

    /// ListGroups + DescribeGroups (one group, or all with `None`), with
    /// each group's coordinator. `Ok(None)`: the client knows no broker
    /// yet (librdkafka asks only brokers learned from metadata).
    pub fn list_groups(
        self,
        group: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<Vec<GroupDescription>>, ApiError> {
        let cgroup = group.map(|g| cstring("the group id", g)).transpose()?;
        let mut list: *const sys::rd_kafka_group_list = ptr::null();
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        let err = unsafe {
            sys::rd_kafka_list_groups(
                self.0,
                cgroup.as_ref().map_or(ptr::null(), |g| g.as_ptr()),
                &mut list,
                ms,
            )
        };
        // Owned from here on: librdkafka hands a list out with
        // RD_KAFKA_RESP_ERR__PARTIAL too (some brokers did not answer).
        // (`then`, not `then_some`: a GroupList of NULL must never exist.)
        let list = (!list.is_null()).then(|| GroupList(list));
        if err == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTIAL {
            return Err(ApiError::new(
                ErrorCode::KafkaRetriable,
                "not every broker answered the group listing in time",
            ));
        }
        if err == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__TRANSPORT {
            return Ok(None);
        }
        if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(kafka_error(err, None));
        }
        let Some(list) = list else {
            return Ok(Some(Vec::new()));
        };
        let (groups, count) = unsafe { ((*list.0).groups, (*list.0).group_cnt.max(0) as usize) };
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            // Safety: `count` entries, alive until the list is destroyed.
            let g = unsafe { &*groups.add(i) };
            let members = (0..g.member_cnt.max(0) as usize)
                .map(|j| {
                    let m = unsafe { &*g.members.add(j) };
                    let bytes = |p: *mut std::ffi::c_void, n: c_int| {
                        if p.is_null() || n <= 0 {
                            Vec::new()
                        } else {
                            unsafe { std::slice::from_raw_parts(p as *const u8, n as usize) }
                                .to_vec()
                        }
                    };
                    unsafe {
                        MemberDescription {
                            member_id: owned(m.member_id).unwrap_or_default(),
                            client_id: owned(m.client_id).unwrap_or_default(),
                            host: owned(m.client_host).unwrap_or_default(),
                            assignment: bytes(m.member_assignment, m.member_assignment_size),
                        }
                    }
                })
                .collect();
            unsafe {
                out.push(GroupDescription {
                    group_id: owned(g.group).unwrap_or_default(),
                    error: (g.err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
                        .then(|| rdkafka::types::RDKafkaErrorCode::from(g.err).to_string()),
                    state: owned(g.state).unwrap_or_default(),
                    protocol_type: owned(g.protocol_type).unwrap_or_default(),
                    protocol: owned(g.protocol).unwrap_or_default(),
                    coordinator: g.broker.id,
                    members,
                });
            }
        }
        Ok(Some(out))
    }
}

/// Which config resource IncrementalAlterConfigs changes.
#[derive(Debug, Clone, Copy)]
pub enum ConfigTarget<'a> {
    Topic(&'a str),
    Broker(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// The ConsumerProtocol assignment, as the broker keeps it.
    pub assignment: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// The broker's error describing the group, if any.
    pub error: Option<String>,
    pub state: String,
    pub protocol_type: String,
    /// The assignor's name for consumer groups.
    pub protocol: String,
    pub coordinator: i32,
    pub members: Vec<MemberDescription>,
}

/// One ACL binding, or (with `None`s and `Any`s) a filter, in Kafka's and
/// Confluent's upper-case names (`TOPIC`, `LITERAL`, `READ`, `ALLOW`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub resource_type: String,
    pub resource_name: Option<String>,
    pub pattern_type: String,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: String,
    pub permission: String,
}

/// Kafka's resource type names and librdkafka's (whose BROKER is Kafka's
/// ACL resource type CLUSTER, both 4 on the wire).
const RESOURCE_TYPES: &[(&str, ResType)] = &[
    ("UNKNOWN", ResType::RD_KAFKA_RESOURCE_UNKNOWN),
    ("ANY", ResType::RD_KAFKA_RESOURCE_ANY),
    ("TOPIC", ResType::RD_KAFKA_RESOURCE_TOPIC),
    ("GROUP", ResType::RD_KAFKA_RESOURCE_GROUP),
    ("CLUSTER", ResType::RD_KAFKA_RESOURCE_BROKER),
    (
        "TRANSACTIONAL_ID",
        ResType::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
    ),
];
const PATTERN_TYPES: &[(&str, Pattern)] = &[
    ("UNKNOWN", Pattern::RD_KAFKA_RESOURCE_PATTERN_UNKNOWN),
    ("ANY", Pattern::RD_KAFKA_RESOURCE_PATTERN_ANY),
    ("MATCH", Pattern::RD_KAFKA_RESOURCE_PATTERN_MATCH),
    ("LITERAL", Pattern::RD_KAFKA_RESOURCE_PATTERN_LITERAL),
    ("PREFIXED", Pattern::RD_KAFKA_RESOURCE_PATTERN_PREFIXED),
];
const OPERATIONS: &[(&str, Op)] = &[
    ("UNKNOWN", Op::RD_KAFKA_ACL_OPERATION_UNKNOWN),
    ("ANY", Op::RD_KAFKA_ACL_OPERATION_ANY),
    ("ALL", Op::RD_KAFKA_ACL_OPERATION_ALL),
    ("READ", Op::RD_KAFKA_ACL_OPERATION_READ),
    ("WRITE", Op::RD_KAFKA_ACL_OPERATION_WRITE),
    ("CREATE", Op::RD_KAFKA_ACL_OPERATION_CREATE),
    ("DELETE", Op::RD_KAFKA_ACL_OPERATION_DELETE),
    ("ALTER", Op::RD_KAFKA_ACL_OPERATION_ALTER),
    ("DESCRIBE", Op::RD_KAFKA_ACL_OPERATION_DESCRIBE),
    ("CLUSTER_ACTION", Op::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION),
    (
        "DESCRIBE_CONFIGS",
        Op::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
    ),
    ("ALTER_CONFIGS", Op::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS),
    (
        "IDEMPOTENT_WRITE",
        Op::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
    ),
];
const PERMISSIONS: &[(&str, Perm)] = &[
    ("UNKNOWN", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN),
    ("ANY", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ANY),
    ("DENY", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_DENY),
    ("ALLOW", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW),
];

fn lookup<T: Copy + PartialEq>(
    table: &[(&'static str, T)],
    what: &str,
    name: &str,
) -> Result<T, ApiError> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            ApiError::new(
                ErrorCode::BadRequest,
                format!("invalid {what} '{name}': one of {}", names.join(", ")),
            )
        })
}

fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> String {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("UNKNOWN", |(n, _)| *n)
        .to_string()
}

/// Checks an ACL's names (as [`acl_binding`] would), without librdkafka.
pub fn validate_acl(acl: &Acl) -> Result<(), ApiError> {
    lookup(RESOURCE_TYPES, "resource_type", &acl.resource_type)?;
    lookup(PATTERN_TYPES, "pattern_type", &acl.pattern_type)?;
    lookup(OPERATIONS, "operation", &acl.operation)?;
    lookup(PERMISSIONS, "permission", &acl.permission)?;
    Ok(())
}

/// A new librdkafka binding (or filter) for `acl`; the caller owns it.
fn acl_binding(acl: &Acl, filter: bool) -> Result<*mut sys::rd_kafka_AclBinding_t, ApiError> {
    let restype = lookup(RESOURCE_TYPES, "resource_type", &acl.resource_type)?;
    let pattern = lookup(PATTERN_TYPES, "pattern_type", &acl.pattern_type)?;
    let operation = lookup(OPERATIONS, "operation", &acl.operation)?;
    let permission = lookup(PERMISSIONS, "permission", &acl.permission)?;
    let name = acl
        .resource_name
        .as_deref()
        .map(|s| cstring("resource_name", s))
        .transpose()?;
    let principal = acl
        .principal
        .as_deref()
        .map(|s| cstring("principal", s))
        .transpose()?;
    let host = acl
        .host
        .as_deref()
        .map(|s| cstring("host", s))
        .transpose()?;
    let p = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    let mut errstr = [0 as c_char; 512];
    let binding = unsafe {
        if filter {
            sys::rd_kafka_AclBindingFilter_new(
                restype,
                p(&name),
                pattern,
                p(&principal),
                p(&host),
                operation,
                permission,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        } else {
            sys::rd_kafka_AclBinding_new(
                restype,
                p(&name),
                pattern,
                p(&principal),
                p(&host),
                operation,
                permission,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        }
    };
    if binding.is_null() {
        let message = unsafe { owned(errstr.as_ptr()) }.unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("invalid ACL: {message}"),
        ));
    }
    Ok(binding)
}

/// Safety: `b` is a live binding.
unsafe fn read_acl(b: *const sys::rd_kafka_AclBinding_t) -> Acl {
    Acl {
        resource_type: name_of(RESOURCE_TYPES, sys::rd_kafka_AclBinding_restype(b)),
        resource_name: owned(sys::rd_kafka_AclBinding_name(b)),
        pattern_type: name_of(
            PATTERN_TYPES,
            sys::rd_kafka_AclBinding_resource_pattern_type(b),
        ),
        principal: owned(sys::rd_kafka_AclBinding_principal(b)),
        host: owned(sys::rd_kafka_AclBinding_host(b)),
        operation: name_of(OPERATIONS, sys::rd_kafka_AclBinding_operation(b)),
        permission: name_of(PERMISSIONS, sys::rd_kafka_AclBinding_permission_type(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(resource_type: &str, pattern: &str) -> Acl {
        Acl {
            resource_type: resource_type.into(),
            resource_name: Some("orders".into()),
            pattern_type: pattern.into(),
            principal: Some("User:alice".into()),
            host: Some("*".into()),
            operation: "READ".into(),
            permission: "ALLOW".into(),
        }
    }

    #[test]
    fn acl_bindings_round_trip_through_librdkafka() {
        for (rt, pattern) in [
            ("TOPIC", "LITERAL"),
            ("cluster", "PREFIXED"),
            ("GROUP", "literal"),
        ] {
            let a = acl(rt, pattern);
            let b = acl_binding(&a, false).unwrap();
            let back = unsafe { read_acl(b) };
            unsafe { sys::rd_kafka_AclBinding_destroy(b) };
            assert_eq!(back.resource_type, rt.to_ascii_uppercase());
            assert_eq!(back.pattern_type, pattern.to_ascii_uppercase());
            assert_eq!(back.resource_name.as_deref(), Some("orders"));
            assert_eq!(back.principal.as_deref(), Some("User:alice"));
            assert_eq!(back.operation, "READ");
            assert_eq!(back.permission, "ALLOW");
        }
    }

    /// Every call against librdkafka's mock cluster, which has none of
    /// these APIs: each answers an error (never a hang or a crash) and
    /// frees what it made.
    #[test]
    fn calls_against_a_broker_without_the_apis_fail_cleanly() {
        use rdkafka::admin::AdminClient;
        use rdkafka::client::DefaultClientContext;
        use rdkafka::config::ClientConfig;
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        // Learn the broker first, as the gateway's clients have.
        admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(5))
            .unwrap();
        let h = Handle(admin.inner().native_ptr());
        let timeout = Duration::from_millis(500);
        for _ in 0..3 {
            let e = h
                .incremental_alter_configs(
                    ConfigTarget::Topic("t"),
                    &[
                        ("retention.ms".into(), Some("1".into())),
                        ("x".into(), None),
                    ],
                    timeout,
                )
                .unwrap_err();
            // The mock names no controller: librdkafka's own timeout.
            assert_eq!(e.code, ErrorCode::KafkaRetriable, "{}", e.message);
            let e = h
                .incremental_alter_configs(ConfigTarget::Broker(1), &[], timeout)
                .unwrap_err();
            assert_ne!(e.code, ErrorCode::Internal, "{}", e.message);
            let e = h.list_groups(None, timeout).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnsupportedByBroker, "{}", e.message);
            let mut filter = acl("ANY", "ANY");
            filter.resource_name = None;
            assert!(h.describe_acls(&filter, timeout).is_err());
            assert!(h.delete_acls(&filter, timeout).is_err());
            assert!(h.create_acls(&[acl("TOPIC", "LITERAL")], timeout).is_err());
            assert!(h.describe_cluster(timeout).is_err());
            // What the mock has: OffsetFetch and ListOffsets.
            let five = Duration::from_secs(5);
            assert_eq!(h.group_offsets("nobody", None, five).unwrap(), vec![]);
            let only = [("t".to_string(), 0)];
            assert_eq!(
                h.group_offsets("nobody", Some(&only), five).unwrap(),
                vec![]
            );
            assert_eq!(
                h.end_offsets(&[("t".into(), 0)], Duration::from_secs(5))
                    .unwrap(),
                vec![("t".into(), 0, 0)]
            );
            assert_eq!(h.end_offsets(&[], timeout).unwrap(), vec![]);
        }
    }

    #[test]
    fn invalid_acls_are_refused_before_any_request() {
        let e = acl_binding(&acl("TOPICS", "LITERAL"), false).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("resource_type"), "{}", e.message);
        // A binding (not a filter) cannot have ANY.
        let e = acl_binding(&acl("ANY", "LITERAL"), false).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        // A filter can, with no name.
        let mut f = acl("ANY", "ANY");
        f.resource_name = None;
        f.principal = None;
        let b = acl_binding(&f, true).unwrap();
        unsafe { sys::rd_kafka_AclBinding_destroy(b) };
        let mut nul = acl("TOPIC", "LITERAL");
        nul.resource_name = Some("a\0b".into());
        assert_eq!(
            acl_binding(&nul, false).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }
}
