//! The budget: what the process's channels may hold and do, and who holds how much.
//!
//! # Specification
//!
//! **Resources.** Four are counted: *memory* (bytes of stored rows, queues and cached values,
//! as the channels report them), *channels*, *rows per second* (the rate signal channels
//! produce at: CPU) and *connections* (WebSocket connections of a data source).
//!
//! **Scopes.** Every charge belongs to the [`Requester`] whose request made it: a *viewer*
//! (org and login), their *org* and the *data source* the request came through. The process
//! has a limit per resource ([`Limits`]); each scope may use at most its share of it
//! (`viewer_share_percent`, `org_share_percent`, `datasource_share_percent`), and a data
//! source's admin may lower that data source's memory (`memoryLimitMb`) and connection
//! (`websocketMaxConnections`) limits in its settings. A charge succeeds only when every
//! scope it belongs to stays within its limit; otherwise it fails with a [`BudgetError`]
//! that names the resource, the scope, the numbers and the setting to change, and nothing
//! is charged.
//!
//! **Holding.** A [`Charge`] holds its amounts until dropped. Memory charges may grow
//! ([`Charge::try_grow_bytes`], all or nothing) and shrink as a channel's ring does. A
//! channel is charged to whoever created it, for as long as it lives, whoever else watches it.
//!
//! **Cost.** One mutex guards the counts; each call holds it for a few hash lookups and
//! never across other work, so the budget is no point where channels wait on each other.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::hub::lock;
use crate::limits::Limits;

/// Who a request comes from, as the budget sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requester {
    /// The Grafana org.
    pub org_id: i64,
    /// The user's login (empty when Grafana itself asks, e.g. alerting).
    pub login: String,
    /// The data source the request came through (its uid), if any.
    pub datasource: Option<String>,
    /// The data source's own memory limit in bytes (jsonData `memoryLimitMb`), if set.
    pub datasource_memory: Option<u64>,
    /// The data source's WebSocket connection limit (jsonData `websocketMaxConnections`).
    pub datasource_connections: Option<u64>,
}

impl Requester {
    /// A requester with no data source: tests and the process itself.
    pub fn system() -> Self {
        Self {
            org_id: 0,
            login: String::new(),
            datasource: None,
            datasource_memory: None,
            datasource_connections: None,
        }
    }

    /// `org/login`: the viewer's name for served marks and messages.
    pub fn viewer(&self) -> String {
        format!("{}/{}", self.org_id, self.login)
    }

    fn tenants(&self) -> Vec<Tenant> {
        let mut t = vec![
            Tenant::Viewer(self.org_id, self.login.clone()),
            Tenant::Org(self.org_id),
        ];
        if let Some(uid) = &self.datasource {
            t.push(Tenant::DataSource(self.org_id, uid.clone()));
        }
        t
    }
}

/// A scope usage is counted in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Tenant {
    Viewer(i64, String),
    Org(i64),
    DataSource(i64, String),
}

/// What is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    /// Memory.
    pub bytes: u64,
    /// Channels.
    pub channels: u64,
    /// Signal rows per second.
    pub rows_per_second: u64,
    /// WebSocket connections.
    pub connections: u64,
}

impl Amounts {
    fn add(&mut self, o: &Amounts) {
        self.bytes += o.bytes;
        self.channels += o.channels;
        self.rows_per_second += o.rows_per_second;
        self.connections += o.connections;
    }

    fn sub(&mut self, o: &Amounts) {
        self.bytes = self.bytes.saturating_sub(o.bytes);
        self.channels = self.channels.saturating_sub(o.channels);
        self.rows_per_second = self.rows_per_second.saturating_sub(o.rows_per_second);
        self.connections = self.connections.saturating_sub(o.connections);
    }

    fn is_zero(&self) -> bool {
        *self == Amounts::default()
    }

    fn get(&self, r: Resource) -> u64 {
        match r {
            Resource::Memory => self.bytes,
            Resource::Channels => self.channels,
            Resource::RowsPerSecond => self.rows_per_second,
            Resource::Connections => self.connections,
        }
    }
}

/// A counted resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Bytes of rows, queues and caches.
    Memory,
    /// Live channels.
    Channels,
    /// Signal rows per second.
    RowsPerSecond,
    /// WebSocket connections of a data source.
    Connections,
}

impl Resource {
    const ALL: [Resource; 4] = [
        Resource::Memory,
        Resource::Channels,
        Resource::RowsPerSecond,
        Resource::Connections,
    ];

    fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Channels => "channels",
            Resource::RowsPerSecond => "signal rows per second",
            Resource::Connections => "WebSocket connections",
        }
    }

    fn show(self, n: u64) -> String {
        match self {
            Resource::Memory => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
            _ => n.to_string(),
        }
    }
}

/// Where a limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole plugin process.
    Process,
    /// One org.
    Org,
    /// One data source.
    DataSource,
    /// One viewer.
    Viewer,
}

/// A charge that would go over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BudgetError {
    /// What ran out.
    pub resource: Resource,
    /// Whose limit it is.
    pub scope: Scope,
    /// The limit.
    pub limit: u64,
    /// What that scope holds now.
    pub used: u64,
    /// What was asked for on top.
    pub asked: u64,
    /// The setting that sets the limit, as an admin would look for it.
    pub setting: String,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.scope {
            Scope::Process => "this plugin process",
            Scope::Org => "this org",
            Scope::DataSource => "this data source",
            Scope::Viewer => "this viewer",
        };
        let r = self.resource;
        write!(
            f,
            "{} limit reached: {who} holds {} of the {} it may use and asked for {} more \
             (set by {}); close some panels or streams, or ask the Grafana admin to raise it",
            r.name(),
            r.show(self.used),
            r.show(self.limit),
            r.show(self.asked),
            self.setting,
        )
    }
}

/// The process-wide counts; cheap to clone.
#[derive(Debug, Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: Limits,
    usage: Mutex<Usage>,
}

#[derive(Debug, Default)]
struct Usage {
    total: Amounts,
    /// Only scopes that hold something: entries go when they reach zero.
    by: HashMap<Tenant, Amounts>,
}

const INI: &str = "[plugin.seed-ringstream-datasource] in grafana.ini";

impl Budget {
    /// A budget with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                usage: Mutex::new(Usage::default()),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Charges `want` to `who`.
    ///
    /// # Errors
    /// A [`BudgetError`] for the first limit it would break; nothing is charged then.
    pub fn charge(&self, who: &Requester, want: Amounts) -> Result<Charge, BudgetError> {
        let tenants = who.tenants();
        let mut usage = lock(&self.inner.usage);
        self.inner.check(&usage, who, &tenants, &want)?;
        usage.add(&tenants, &want);
        drop(usage);
        Ok(Charge {
            budget: Arc::clone(&self.inner),
            who: who.clone(),
            tenants,
            amounts: want,
        })
    }

    /// The most bytes `who` could be charged now.
    pub fn headroom_bytes(&self, who: &Requester) -> u64 {
        let tenants = who.tenants();
        let usage = lock(&self.inner.usage);
        let mut room = self
            .inner
            .limits
            .memory_bytes()
            .saturating_sub(usage.total.bytes);
        for t in &tenants {
            let (limit, _) = self.inner.cap(who, t, Resource::Memory);
            let used = usage.by.get(t).map_or(0, |a| a.bytes);
            room = room.min(limit.saturating_sub(used));
        }
        room
    }

    /// Everything charged now.
    pub fn used(&self) -> Amounts {
        lock(&self.inner.usage).total
    }

    /// Scopes holding something now (each viewer, org and data source counts once).
    pub fn scopes(&self) -> usize {
        lock(&self.inner.usage).by.len()
    }
}

impl Usage {
    fn add(&mut self, tenants: &[Tenant], a: &Amounts) {
        self.total.add(a);
        for t in tenants {
            self.by.entry(t.clone()).or_default().add(a);
        }
    }

    fn sub(&mut self, tenants: &[Tenant], a: &Amounts) {
        self.total.sub(a);
        for t in tenants {
            if let Some(held) = self.by.get_mut(t) {
                held.sub(a);
                if held.is_zero() {
                    self.by.remove(t);
                }
            }
        }
    }
}

impl Inner {
    /// The limit of `resource` for `tenant`, and the setting that makes it.
    fn cap(&self, who: &Requester, tenant: &Tenant, resource: Resource) -> (u64, String) {
        let l = &self.limits;
        let (total, total_key) = match resource {
            Resource::Memory => (l.memory_bytes(), "max_memory_mb"),
            Resource::Channels => (l.max_channels, "max_channels"),
            Resource::RowsPerSecond => (l.max_rows_per_second, "max_rows_per_second"),
            Resource::Connections => (
                who.datasource_connections
                    .unwrap_or(l.max_websocket_connections)
                    .min(l.max_websocket_connections),
                "max_websocket_connections",
            ),
        };
        let (percent, key) = match tenant {
            Tenant::Viewer(..) => (l.viewer_share_percent, "viewer_share_percent"),
            Tenant::Org(_) => (l.org_share_percent, "org_share_percent"),
            Tenant::DataSource(..) if resource == Resource::Connections => {
                let setting = if who
                    .datasource_connections
                    .is_some_and(|c| c < l.max_websocket_connections)
                {
                    "the data source's `websocketMaxConnections`".to_owned()
                } else {
                    format!("`max_websocket_connections` = {total}, {INI}")
                };
                return (total, setting);
            }
            Tenant::DataSource(..) => (l.datasource_share_percent, "datasource_share_percent"),
        };
        // Connections are a per-data-source limit: viewers get their share of it, orgs
        // are not limited beyond their data sources.
        if resource == Resource::Connections && matches!(tenant, Tenant::Org(_)) {
            return (u64::MAX, String::new());
        }
        let mut cap = Limits::share(total, percent);
        let mut setting = format!("`{key}` = {percent} % of `{total_key}`, {INI}");
        if resource == Resource::Memory && matches!(tenant, Tenant::DataSource(..)) {
            if let Some(own) = who.datasource_memory.filter(|own| *own < cap) {
                cap = own;
                setting = "the data source's `memoryLimitMb`".to_owned();
            }
        }
        (cap, setting)
    }

    fn check(
        &self,
        usage: &Usage,
        who: &Requester,
        tenants: &[Tenant],
        want: &Amounts,
    ) -> Result<(), BudgetError> {
        for resource in Resource::ALL {
            let asked = want.get(resource);
            if asked == 0 {
                continue;
            }
            if resource != Resource::Connections {
                let (limit, key) = match resource {
                    Resource::Memory => (self.limits.memory_bytes(), "max_memory_mb"),
                    Resource::Channels => (self.limits.max_channels, "max_channels"),
                    _ => (self.limits.max_rows_per_second, "max_rows_per_second"),
                };
                let used = usage.total.get(resource);
                if used.saturating_add(asked) > limit {
                    return Err(BudgetError {
                        resource,
                        scope: Scope::Process,
                        limit,
                        used,
                        asked,
                        setting: format!("`{key}`, {INI}"),
                    });
                }
            }
            for t in tenants {
                let (limit, setting) = self.cap(who, t, resource);
                let used = usage.by.get(t).map_or(0, |a| a.get(resource));
                if used.saturating_add(asked) > limit {
                    return Err(BudgetError {
                        resource,
                        scope: match t {
                            Tenant::Viewer(..) => Scope::Viewer,
                            Tenant::Org(_) => Scope::Org,
                            Tenant::DataSource(..) => Scope::DataSource,
                        },
                        limit,
                        used,
                        asked,
                        setting,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Amounts held for a requester until dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<Inner>,
    who: Requester,
    tenants: Vec<Tenant>,
    amounts: Amounts,
}

impl Charge {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.amounts.bytes
    }

    /// Who pays.
    pub fn requester(&self) -> &Requester {
        &self.who
    }

    /// Holds `extra` more bytes.
    ///
    /// # Errors
    /// A [`BudgetError`] when a limit would be broken; the charge is unchanged then.
    pub fn try_grow_bytes(&mut self, extra: u64) -> Result<(), BudgetError> {
        let want = Amounts {
            bytes: extra,
            ..Amounts::default()
        };
        let mut usage = lock(&self.budget.usage);
        self.budget.check(&usage, &self.who, &self.tenants, &want)?;
        usage.add(&self.tenants, &want);
        self.amounts.bytes += extra;
        Ok(())
    }

    /// Gives back `less` bytes (at most what is held).
    pub fn release_bytes(&mut self, less: u64) {
        let less = less.min(self.amounts.bytes);
        let give = Amounts {
            bytes: less,
            ..Amounts::default()
        };
        lock(&self.budget.usage).sub(&self.tenants, &give);
        self.amounts.bytes -= less;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        lock(&self.budget.usage).sub(&self.tenants, &self.amounts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(org: i64, login: &str, ds: &str) -> Requester {
        Requester {
            org_id: org,
            login: login.into(),
            datasource: Some(ds.into()),
            datasource_memory: None,
            datasource_connections: None,
        }
    }

    fn mib(n: u64) -> Amounts {
        Amounts {
            bytes: n << 20,
            ..Amounts::default()
        }
    }

    #[test]
    fn a_viewer_gets_its_share_and_others_keep_theirs() {
        let budget = Budget::new(Limits::default()); // 256 MiB, viewer 25 %, org 50 %
        let mallory = viewer(1, "mallory", "ds");
        let held = budget.charge(&mallory, mib(60)).unwrap();
        let err = budget.charge(&mallory, mib(5)).unwrap_err();
        assert_eq!((err.resource, err.scope), (Resource::Memory, Scope::Viewer));
        assert!(err.to_string().contains("viewer_share_percent"), "{err}");
        // Another org's viewer is not affected.
        assert!(budget.charge(&viewer(2, "ada", "other"), mib(60)).is_ok());
        drop(held);
        assert!(budget.charge(&mallory, mib(60)).is_ok(), "released on drop");
    }

    #[test]
    fn an_org_is_bounded_whatever_its_viewers() {
        let budget = Budget::new(Limits::default());
        let mut held = Vec::new();
        for login in ["a", "b"] {
            held.push(budget.charge(&viewer(1, login, "ds1"), mib(60)).unwrap());
        }
        let err = budget.charge(&viewer(1, "c", "ds2"), mib(60)).unwrap_err();
        assert_eq!(err.scope, Scope::Org, "{err}");
        assert_eq!(budget.headroom_bytes(&viewer(1, "c", "ds2")), 8 << 20);
    }

    #[test]
    fn growth_is_all_or_nothing_and_scopes_are_forgotten_at_zero() {
        let budget = Budget::new(Limits::default());
        let who = viewer(1, "a", "ds");
        let mut c = budget.charge(&who, mib(1)).unwrap();
        assert!(c.try_grow_bytes(100 << 20).is_err());
        assert_eq!(c.bytes(), 1 << 20);
        c.try_grow_bytes(1 << 20).unwrap();
        c.release_bytes(u64::MAX);
        assert_eq!(budget.used().bytes, 0);
        drop(c);
        assert_eq!(budget.scopes(), 0);
    }

    #[test]
    fn the_data_source_may_lower_its_own_limits() {
        let budget = Budget::new(Limits::default());
        let mut who = viewer(1, "a", "ds");
        who.datasource_memory = Some(10 << 20);
        who.datasource_connections = Some(2);
        let err = budget.charge(&who, mib(11)).unwrap_err();
        assert_eq!(err.scope, Scope::DataSource);
        assert!(err.to_string().contains("memoryLimitMb"), "{err}");
        let one = Amounts {
            connections: 1,
            ..Amounts::default()
        };
        let _c1 = budget.charge(&who, one).unwrap();
        // The viewer's share of 2 connections is 1 (25 %, at least one).
        let err = budget.charge(&who, one).unwrap_err();
        assert_eq!(
            (err.resource, err.scope),
            (Resource::Connections, Scope::Viewer)
        );
        let other = Requester {
            login: "b".into(),
            ..who.clone()
        };
        let _c2 = budget.charge(&other, one).unwrap();
        let err = budget
            .charge(
                &Requester {
                    login: "c".into(),
                    ..who
                },
                one,
            )
            .unwrap_err();
        assert_eq!(err.scope, Scope::DataSource, "{err}");
        assert!(err.to_string().contains("websocketMaxConnections"), "{err}");
    }

    #[test]
    fn the_process_limit_binds_first() {
        let budget = Budget::new(Limits {
            max_channels: 3,
            viewer_share_percent: 100,
            org_share_percent: 100,
            datasource_share_percent: 100,
            ..Limits::default()
        });
        let one = Amounts {
            channels: 1,
            ..Amounts::default()
        };
        let held: Vec<_> = (0..3)
            .map(|i| budget.charge(&viewer(i, "x", "d"), one).unwrap())
            .collect();
        let err = budget.charge(&viewer(9, "y", "d"), one).unwrap_err();
        assert_eq!(
            (err.resource, err.scope),
            (Resource::Channels, Scope::Process)
        );
        assert!(err.to_string().contains("max_channels"));
        drop(held);
    }
}
