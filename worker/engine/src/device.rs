//! Maps the job's device name onto a libtorch device.

use rwclip_job::{parse_device_name, DeviceName};

use crate::error::{Result, EngineError};

pub fn select_device(name: &str) -> Result<tch::Device> {
    let parsed = parse_device_name(name).map_err(|p| EngineError::Usage(format!("device {p}")))?;
    match parsed {
        DeviceName::Cpu => Ok(tch::Device::Cpu),
        DeviceName::Auto => Ok(tch::Device::cuda_if_available()),
        DeviceName::Cuda(i) => {
            if tch::Cuda::is_available() && i < tch::Cuda::device_count() as usize {
                Ok(tch::Device::Cuda(i))
            } else {
                Err(EngineError::Usage(format!(
                    "device cuda:{i} requested but libtorch sees {} CUDA device(s)",
                    if tch::Cuda::is_available() { tch::Cuda::device_count() } else { 0 }
                )))
            }
        }
    }
}
