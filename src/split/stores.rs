//! The object stores DataFusion and Ballista read a flight's keyed rows
//! from: `s3://`, `gs://` and `az://` URLs are opened on first use with
//! the environment's credentials (as [`crate::fetch::object`] opens bucket
//! sources), local paths as usual. `siap resolve`, `siap cluster
//! scheduler` and `siap cluster executor` all use it, so a flight on
//! object storage is read wherever the engine's tasks run.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use reqwest::Url;

/// Local files, and any bucket the environment grants.
#[derive(Debug, Default)]
pub struct EnvStores {
    opened: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.opened.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.opened.get_store(url) {
            return Ok(store);
        }
        let (store, _) = object_store::parse_url_opts(url, crate::fetch::object::env_options())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store: Arc<dyn ObjectStore> = Arc::from(store);
        self.opened.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// A runtime whose object stores are [`EnvStores`]; spill files go to
/// `temp` when given.
pub fn runtime(temp: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(EnvStores::default()));
    match temp {
        Some(dir) => builder.with_temp_file_path(dir).build_arc(),
        None => builder.build_arc(),
    }
}
