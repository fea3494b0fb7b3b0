"""psi-teleop: the operator session (input devices, locomotion channel, teleop loop, robot backends, CLI).

Importing this package is light: no MuJoCo, torch or Qt until a submodule that needs them is used.
"""

from teleop.exceptions import ConfigError, InputDeviceError, PsiTeleopError, RobotBackendError

__all__ = ["ConfigError", "InputDeviceError", "PsiTeleopError", "RobotBackendError"]
__version__ = "0.1.0"
