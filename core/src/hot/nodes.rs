//! Commands that concern a whole keyspace (SCAN) must visit every master of a cluster: a
//! cluster client sends a keyless command to one node at random, and a SCAN cursor only
//! means something on the node that issued it.
//!
//! Invariant: [`RedisConn::masters`] names each master serving slots once (one server: just
//! the connection itself), and a command sent [`RedisConn::query_on`] a master runs there,
//! over the cluster connection's own link to it (its credentials and reconnects).

use redis::{
    Cmd, FromRedisValue, Pipeline, RedisResult, Value,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};

use super::RedisConn;
use crate::Result;

/// Where a node-wide command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// The one server of a single-node connection.
    Only,
    /// A cluster master at this address.
    Master { host: String, port: u16 },
}

/// The masters that serve slots, from `CLUSTER NODES`: flags include `master`, none of
/// `fail`, `fail?`, `handshake` or `noaddr`, the link is `connected`, and slots are listed.
pub fn masters_in(cluster_nodes: &str) -> Vec<Node> {
    cluster_nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [
                _id,
                addr,
                flags,
                _master,
                _ping,
                _pong,
                _epoch,
                link,
                slots @ ..,
            ] = fields.as_slice()
            else {
                return None;
            };
            let flags: Vec<&str> = flags.split(',').collect();
            let down = ["fail", "fail?", "handshake", "noaddr"];
            let serving = flags.contains(&"master")
                && !flags.iter().any(|f| down.contains(f))
                && *link == "connected"
                && !slots.is_empty();
            if !serving {
                return None;
            }
            // host:port@bus[,hostname]
            let host_port = addr.split(['@', ',']).next()?;
            let (host, port) = host_port.rsplit_once(':')?;
            Some(Node::Master {
                host: host.to_owned(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

impl RedisConn {
    /// Every master to visit for a keyspace-wide command.
    pub async fn masters(&self) -> Result<Vec<Node>> {
        match self {
            Self::Single(_) => Ok(vec![Node::Only]),
            Self::Cluster(_) => {
                let text: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut self.clone())
                    .await?;
                Ok(masters_in(&text))
            }
        }
    }

    /// Runs `cmd` on `node`.
    pub async fn query_on<T: FromRedisValue>(&self, node: &Node, cmd: &Cmd) -> RedisResult<T> {
        match (self, node) {
            (Self::Cluster(cluster), Node::Master { host, port }) => {
                let route = RoutingInfo::SingleNode(by_address(host, *port));
                let value = cluster.clone().route_command(cmd, route).await?;
                redis::from_owned_redis_value(value)
            }
            _ => cmd.query_async(&mut self.clone()).await,
        }
    }

    /// Runs `pipe` on `node` and returns each command's reply; its commands' keys must live
    /// there (on any of that node's slots), and none may be ignored.
    pub async fn pipe_on<T: FromRedisValue>(
        &self,
        node: &Node,
        pipe: &Pipeline,
    ) -> RedisResult<Vec<T>> {
        match (self, node) {
            (Self::Cluster(cluster), Node::Master { host, port }) => {
                let count = pipe.cmd_iter().count();
                let values = cluster
                    .clone()
                    .route_pipeline(pipe, 0, count, by_address(host, *port))
                    .await?;
                redis::from_owned_redis_value(Value::Array(values))
            }
            _ => pipe.query_async(&mut self.clone()).await,
        }
    }
}

fn by_address(host: &str, port: u16) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::ByAddress {
        host: host.to_owned(),
        port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connected_masters_with_slots_are_visited() {
        let nodes = "\
a1 127.0.0.1:27001@27101 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:27002@27102 master - 0 0 2 connected 5461-10922
a3 127.0.0.1:27003@27103 master,fail - 0 0 3 disconnected 10923-16383
a4 127.0.0.1:27004@27104 slave a2 0 0 2 connected
a5 127.0.0.1:27005@27105 master - 0 0 5 connected
a6 10.0.0.6:6379@16379,redis-6 master - 0 0 6 connected 10923-16383
";
        let master = |host: &str, port| Node::Master {
            host: host.into(),
            port,
        };
        assert_eq!(
            masters_in(nodes),
            [
                master("127.0.0.1", 27001),
                master("127.0.0.1", 27002),
                master("10.0.0.6", 6379)
            ]
        );
    }
}
