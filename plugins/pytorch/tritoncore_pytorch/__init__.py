"""tritoncore-pytorch: serves TorchScript (model.pt) and torch.export (model.pt2) models.

Importing this package does not import torch; the entry point module
(``tritoncore_pytorch.plugin``) does, when the first model that needs it loads.
"""

__version__ = "0.1.0"
