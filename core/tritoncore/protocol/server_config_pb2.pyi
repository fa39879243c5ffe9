from tritoncore.protocol import model_config_pb2 as _model_config_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerConfig(_message.Message):
    __slots__ = ("model_config_list", "backend_config")
    MODEL_CONFIG_LIST_FIELD_NUMBER: _ClassVar[int]
    BACKEND_CONFIG_FIELD_NUMBER: _ClassVar[int]
    model_config_list: _containers.RepeatedCompositeFieldContainer[ModelConfigEntry]
    backend_config: _containers.RepeatedCompositeFieldContainer[BackendConfigEntry]
    def __init__(self, model_config_list: _Optional[_Iterable[_Union[ModelConfigEntry, _Mapping]]] = ..., backend_config: _Optional[_Iterable[_Union[BackendConfigEntry, _Mapping]]] = ...) -> None: ...

class ModelConfigEntry(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _model_config_pb2.ModelConfig
    def __init__(self, config: _Optional[_Union[_model_config_pb2.ModelConfig, _Mapping]] = ...) -> None: ...

class BackendConfigEntry(_message.Message):
    __slots__ = ("backend", "parameters")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    parameters: _containers.RepeatedCompositeFieldContainer[BackendParameter]
    def __init__(self, backend: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[BackendParameter, _Mapping]]] = ...) -> None: ...

class BackendParameter(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
